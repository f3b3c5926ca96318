"""The one dataset -> features loop: a whole split in dataset-index order
(eval mode, sharded), for clustering, kNN, the classifier protocols and the
figures.

The dataset (`data.sources`) yields eval batches as global device arrays,
padded to the same number of batches on every process; outputs, indices
and masks are gathered so each process ends with the full [N, dim] array.
One batch is kept in flight while the previous one is fetched, so the host
copy overlaps the next forward pass. `map_split` is that loop for any
per-example function (figures and classifier accuracy use it too).
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from hcsc_jax.runtime import reporting
from hcsc_jax.runtime import sharding
from hcsc_jax.engine import step as step_lib


def map_split(fn: Callable, dataset, split: str, batch_size: int, mesh,
              description: Optional[str] = None,
              max_batches: Optional[int] = None,
              stop_check: Optional[Callable[[], None]] = None,
              carry: Sequence[str] = ("index", "label")
              ) -> Iterator[dict[str, np.ndarray]]:
  """The one dataset -> per-example outputs loop (embedding, classifier
  accuracy, figures): per eval batch, a host dict of `fn(images)` under
  "outputs" and the `carry` fields, padding rows dropped. The host copy of
  a batch is made after the next batch is dispatched, so it overlaps that
  pass. `stop_check` runs between batches (it raises to abandon the pass).
  Every process must consume the same number of batches."""
  count, batches = dataset.eval_batches(split, batch_size, mesh)
  if max_batches is not None:
    count = min(count, max_batches)
    batches = itertools.islice(batches, count)
  if description is not None:
    batches = reporting.progress_bar(batches, count, description)
  pending = None
  for batch in batches:
    if stop_check is not None:
      stop_check()
    current = {"outputs": fn(batch["image"]), "mask": batch["mask"],
               **{name: batch[name] for name in carry}}
    if pending is not None:
      yield _kept_rows(pending)
    pending = current
  if pending is not None:
    yield _kept_rows(pending)


def _kept_rows(device_batch: dict) -> dict[str, np.ndarray]:
  host = sharding.to_host(device_batch)
  keep = host.pop("mask").astype(bool)
  return {name: value[keep] for name, value in host.items()}


def split_features(feature_fn: Callable, params, batch_stats, dataset,
                   split: str, batch_size: int, mesh, description: str,
                   stop_check: Optional[Callable[[], None]] = None
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(features [N, dim] float32, labels [N] int32, -1 where unlabelled).

  `batch_size` is global; `dataset` is a `data.sources` Dataset;
  `stop_check` is called between batches (it raises to abandon the pass).
  """
  total = dataset.num_examples(split)
  features = None
  labels = np.full(total, -1, np.int32)
  seen = np.zeros(total, bool)
  for rows in map_split(lambda images: feature_fn(params, batch_stats,
                                                  images),
                        dataset, split, batch_size, mesh, description,
                        stop_check=stop_check):
    if features is None:
      features = np.zeros((total, rows["outputs"].shape[1]), np.float32)
    features[rows["index"]] = rows["outputs"]
    labels[rows["index"]] = rows["label"]
    seen[rows["index"]] = True
  missing = int(total - seen.sum())
  if missing:
    reporting.log(f"{split}: {missing} of {total} images could not be decoded "
                  "and were skipped; their feature rows are zero.")
  return features, labels


def encoder_features(model, params, batch_stats, dataset, split: str,
                     batch_size: int, mesh, output: str, description: str,
                     stop_check: Optional[Callable[[], None]] = None
                     ) -> tuple[np.ndarray, np.ndarray]:
  """`split_features` with an encoder's eval-mode pass: pooled `backbone`
  features or L2-normalised `head` embeddings."""
  feature_fn = step_lib.make_feature_fn(model, mesh, output)
  return split_features(feature_fn, params, batch_stats, dataset, split,
                        batch_size, mesh, description, stop_check)
