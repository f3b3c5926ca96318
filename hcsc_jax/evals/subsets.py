"""Label subsets for semi-supervised fine-tuning.

ImageNet uses TFDS `imagenet2012_subset/1pct|10pct`, whose train split *is*
the SimCLR subset. Other data sets (Fashion-MNIST) get the same fractions as
a class-stratified sample drawn with a fixed seed; the chosen dataset indices
are written next to the results so a run can be reproduced or audited.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from hcsc_jax import validation

SUBSETS = {"1pct": 0.01, "10pct": 0.10}


def fraction(name: str) -> float:
  if name not in SUBSETS:
    raise validation.ConfigError(
        f"classifier.subset={name!r} does not exist; choose one of "
        f"{sorted(SUBSETS)} (or '' for the whole training split).")
  return SUBSETS[name]


def require_labels(builder, protocol: str) -> None:
  if "label" not in builder.info.features:
    raise validation.ConfigError(
        f"data set {builder.name} has no labels (features: "
        f"{sorted(builder.info.features)}); {protocol} needs them.")


def split_labels(builder, split: str) -> np.ndarray:
  """Labels of `split` in stored order, without decoding any image."""
  require_labels(builder, "a label subset")
  decoders = {name: tfds.decode.SkipDecoding()
              for name in builder.info.features if name != "label"}
  ds = builder.as_dataset(split=split, shuffle_files=False, decoders=decoders)
  return np.fromiter((int(ex["label"]) for ex in tfds.as_numpy(ds)),
                     np.int64)


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
