"""The label subsets of an evaluation with `label_selection` set: the
images a rule of evals/label_budget.py picks from the training split,
without its labels, as many as a class-balanced draw would hold.

Every encoder gets the same help: `typical` clusters the features being
evaluated (the encoder's, the random network's, the raw pixels'), and
`prototypes` reads the checkpoint's own HCSC hierarchy, embedding the
images with its key encoder as the hierarchy was built, or, for an
encoder without one (raw pixels, a random network, MoCo v2, a PyTorch
file), a hierarchical k-means of the evaluated features with the run's
cluster counts. Which hierarchy was used is recorded in the result. The
k-means runs on the run's `kmeans.backend` (faiss, or JAX on hosts
without faiss).
"""

from __future__ import annotations

import hashlib

import numpy as np

from hcsc_jax.data.datasets import folder_defaults
from hcsc_jax.evals import label_budget
from hcsc_jax.evals import label_scarce
from hcsc_jax.evals import subsets
from hcsc_jax.runtime import reporting


def _checkpoint_hierarchy(encoder, dataset, split: str, batch_size: int,
                          mesh):
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  params, stats = encoder.key_variables
  head, _ = features_lib.encoder_features(
      encoder.model, params, stats, dataset, split, batch_size, mesh, "head",
      f"features: {split} (key encoder, for its hierarchy)")
  head = np.asarray(head, np.float32)
  head /= np.maximum(np.linalg.norm(head, axis=1, keepdims=True), 1e-12)
  tree = encoder.hierarchy
  if tree.assignments[0].shape[0] != head.shape[0]:
    raise ValueError(f"the checkpoint's hierarchy assigns "
                     f"{tree.assignments[0].shape[0]} images but split "
                     f"{split!r} holds {head.shape[0]}.")
  return label_budget.hierarchy_arrays(head, tree.centroids,
                                       tree.assignments, tree.parents)


# Hierarchies built in this process, by what they were built from: the
# protocols of a study run share them (a k-means of 60,000 pixel rows takes
# a while); a few are kept.
_HIERARCHIES: dict = {}
_HIERARCHIES_KEPT = 4


def _remembered(key, build):
  if key not in _HIERARCHIES:
    while len(_HIERARCHIES) >= _HIERARCHIES_KEPT:
      _HIERARCHIES.pop(next(iter(_HIERARCHIES)))
    _HIERARCHIES[key] = build()
  return _HIERARCHIES[key]


def _digest(features: np.ndarray) -> str:
  return hashlib.sha1(np.ascontiguousarray(features).tobytes()).hexdigest()


def cluster_counts(run_config, num_examples: int) -> tuple[int, ...]:
  """The run's `num_clusters`, or the image-folder default for this many
  images when the run left it to be derived (or there is no run)."""
  counts = tuple(run_config.num_clusters) if run_config is not None else ()
  return counts or tuple(folder_defaults.cluster_counts(num_examples))


def draws(cfg, train: label_scarce.Features, encoder, dataset, mesh,
          run_config) -> tuple[list[np.ndarray], dict]:
  """(the subsets' sorted rows, one per draw; what to record beside the
  result). `encoder` None means raw pixels."""
  strategy = cfg.label_selection
  labels = train[1]
  backend = run_config.kmeans.backend if run_config is not None else "faiss"
  budget = label_scarce.subset_size(labels, cfg)
  record = {"label_selection": strategy, "selected_examples": budget}
  if strategy == "random_balanced":
    rows = subsets.label_draws(labels, cfg.label_fraction,
                               cfg.labels_per_class, cfg.label_draws,
                               cfg.seed)
  elif strategy == "prototypes":
    if encoder is not None and encoder.hierarchy is not None:
      hierarchy = _remembered(
          (encoder.source, cfg.data.to_json()),
          lambda: _checkpoint_hierarchy(encoder, dataset,
                                        cfg.data.train_split, cfg.batch_size,
                                        mesh))
      record["hierarchy"] = "the checkpoint's HCSC hierarchy"
    else:
      counts = cluster_counts(run_config, labels.shape[0])
      reporting.log(f"label selection: no HCSC hierarchy for this encoder; "
                    f"hierarchical k-means {counts} of its features")
      hierarchy = _remembered(
          (_digest(train[0]), counts, cfg.seed, backend),
          lambda: label_budget.hierarchy_of(train[0], counts, cfg.seed,
                                            backend))
      record["hierarchy"] = f"hierarchical k-means {list(counts)} of the " \
                            "evaluated features"
    rows = [label_budget.choose("prototypes", budget,
                                hierarchy=hierarchy).rows]
  else:
    rows = [label_budget.choose(strategy, budget, cfg.seed * 1000 + i,
                                features=train[0], backend=backend).rows
            for i in range(cfg.label_draws)]
  rows = [np.sort(r) for r in rows]
  classes = np.unique(labels[labels >= 0]).size
  record["classes_covered"] = [int(np.unique(labels[r]).size) for r in rows]
  record["classes"] = int(classes)
  return rows, record
