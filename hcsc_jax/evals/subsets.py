"""Label subsets for semi-supervised fine-tuning.

ImageNet uses TFDS `imagenet2012_subset/1pct|10pct`, whose train split *is*
the SimCLR subset. Other data sets (Fashion-MNIST) get the same fractions as
a class-stratified sample drawn with a fixed seed; the chosen dataset indices
are written next to the results so a run can be reproduced or audited.
"""

from __future__ import annotations

import numpy as np

from hcsc_jax.errors import ConfigError

SUBSETS = {"1pct": 0.01, "10pct": 0.10}


def fraction(name: str) -> float:
  if name not in SUBSETS:
    raise ConfigError(
        f"classifier.subset={name!r} does not exist; choose one of "
        f"{sorted(SUBSETS)} (or '' for the whole training split).")
  return SUBSETS[name]


def require_labels(dataset, protocol: str) -> None:
  if not dataset.has_labels:
    raise ConfigError(
        f"data set {dataset.name} has no labels (features: "
        f"{list(dataset.feature_names)}); {protocol} needs them.")


def stratified_subset(labels: np.ndarray, name: str, seed: int) -> np.ndarray:
  """Sorted dataset indices: round(fraction * class size) of each class
  (at least one), drawn uniformly with `seed`."""
  share = fraction(name)
  rng = np.random.default_rng(seed)
  chosen = []
  for label in np.unique(labels):
    members = np.flatnonzero(labels == label)
    count = max(1, int(round(share * members.size)))
    chosen.append(rng.choice(members, count, replace=False))
  return np.sort(np.concatenate(chosen))
