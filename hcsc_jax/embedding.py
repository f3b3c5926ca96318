"""Embeds a whole split in dataset-index order (eval mode, sharded).

The dataset (`data.sources`) yields eval batches as global device arrays,
padded to the same number of batches on every process; features, indices
and masks are gathered so each process ends with the full [N, dim] array.
One batch is kept in flight while the previous one is fetched, so the host
copy overlaps the next forward pass.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from hcsc_jax import reporting
from hcsc_jax import sharding
from hcsc_jax import step as step_lib


def embed_split(embed_fn: Callable, params, batch_stats, dataset,
                split: str, batch_size: int, mesh, description: str,
                stop_check: Optional[Callable[[], None]] = None
                ) -> tuple[np.ndarray, np.ndarray]:
  """(features [N, dim] float32, labels [N] int32, -1 where unlabelled).

  `batch_size` is global; `dataset` is a `data.sources` Dataset;
  `stop_check` is called between batches (it raises to abandon the pass).
  """
  total = dataset.num_examples(split)
  count, batches = dataset.eval_batches(split, batch_size, mesh)
  features = None
  labels = np.full(total, -1, np.int32)
  seen = np.zeros(total, bool)

  def collect(pending):
    nonlocal features
    host = sharding.to_host(pending)
    keep = host["mask"].astype(bool)
    rows = host["index"][keep]
    if features is None:
      features = np.zeros((total, host["features"].shape[1]), np.float32)
    features[rows] = host["features"][keep]
    labels[rows] = host["label"][keep]
    seen[rows] = True

  pending = None
  for batch in reporting.progress_bar(batches, count, description):
    if stop_check is not None:
      stop_check()
    current = {"features": embed_fn(params, batch_stats, batch["image"]),
               "index": batch["index"], "label": batch["label"],
               "mask": batch["mask"]}
    if pending is not None:
      collect(pending)
    pending = current
  if pending is not None:
    collect(pending)
  missing = int(total - seen.sum())
  if missing:
    reporting.log(f"{split}: {missing} of {total} images could not be decoded "
                  "and were skipped; their feature rows are zero.")
  return features, labels


def encoder_features(model, params, batch_stats, dataset, split: str,
                     batch_size: int, mesh, output: str, description: str,
                     stop_check: Optional[Callable[[], None]] = None
                     ) -> tuple[np.ndarray, np.ndarray]:
  """`embed_split` with an encoder's eval-mode pass: pooled `backbone`
  features or L2-normalised `head` embeddings."""
  embed = step_lib.make_embed(model, mesh, output)
  return embed_split(embed, params, batch_stats, dataset, split, batch_size,
                     mesh, description, stop_check)
