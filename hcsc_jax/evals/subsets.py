"""Label subsets: the label-scarce protocols and semi-supervised
fine-tuning.

ImageNet's semi-supervised protocol uses TFDS `imagenet2012_subset/1pct|
10pct`, whose train split *is* the SimCLR subset. Elsewhere a subset is drawn
with a fixed seed: class-stratified (`stratified_subset`, by name) or
class-balanced (`balanced_subset`: the same count from every class, what the
label-fraction protocols use, `label_draws`). The chosen dataset indices are
written next to the results so a run can be reproduced or audited.
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


def per_class_count(labels: np.ndarray, fraction: float = 0.0,
                    per_class: int = 0) -> int:
  """Examples per class of a balanced subset: `per_class`, or
  round(fraction * size / classes) (at least one)."""
  classes = np.unique(labels[labels >= 0]).size
  if per_class:
    return int(per_class)
  return max(1, int(round(fraction * labels.size / max(classes, 1))))


def balanced_subset(labels: np.ndarray, per_class: int,
                    seed: int) -> np.ndarray:
  """Sorted dataset indices: `per_class` of every class, drawn uniformly
  with `seed`; a class with fewer examples is named (ConfigError)."""
  rng = np.random.default_rng(seed)
  chosen = []
  for label in np.unique(labels[labels >= 0]):
    members = np.flatnonzero(labels == label)
    if members.size < per_class:
      raise ConfigError(
          f"class {label} has {members.size} labelled examples, fewer than "
          f"the {per_class} per class asked for; lower label_fraction or "
          "labels_per_class.")
    chosen.append(rng.choice(members, per_class, replace=False))
  return np.sort(np.concatenate(chosen))


def label_draws(labels: np.ndarray, fraction: float, per_class: int,
                draws: int, seed: int) -> list[np.ndarray]:
  """`draws` balanced subsets, draw i seeded with seed * 1000 + i: fixed
  per (seed, draw), different across draws."""
  count = per_class_count(labels, fraction, per_class)
  return [balanced_subset(labels, count, seed * 1000 + i)
          for i in range(draws)]


def suffix(fraction: float, per_class: int) -> str:
  """What a result name gets for its label subset: '_1pct', '_10pct',
  '_0.5pct', '_25perclass', or '' for all labels."""
  if per_class:
    return f"_{int(per_class)}perclass"
  if not fraction:
    return ""
  percent = fraction * 100
  return f"_{percent:g}pct"
