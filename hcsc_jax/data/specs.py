"""Augmentation settings, free of TensorFlow so the accelerator side
(device_augment, the train step) can use them on hosts without it."""

from __future__ import annotations

import dataclasses

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class ViewSpec:
  """One augmented view: output size and RandomResizedCrop scale range."""
  size: int
  scale: tuple[float, float] = (0.2, 1.0)


@dataclasses.dataclass(frozen=True)
class AugmentSpec:
  """The MoCo v2 recipe; probabilities of 0 switch a step off."""
  jitter_prob: float = 0.8
  jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
  grayscale_prob: float = 0.2
  blur_prob: float = 0.5
  blur_sigma: tuple[float, float] = (0.1, 2.0)
  flip_prob: float = 0.5
  mean: tuple[float, ...] = IMAGENET_MEAN
  std: tuple[float, ...] = IMAGENET_STD


def from_config(config) -> AugmentSpec:
  """The AugmentSpec of a run's config (`augment` and `data` blocks)."""
  aug, data = config.augment, config.data
  return AugmentSpec(
      jitter_prob=aug.jitter_prob, jitter=tuple(aug.jitter),
      grayscale_prob=aug.grayscale_prob, blur_prob=aug.blur_prob,
      blur_sigma=tuple(aug.blur_sigma), flip_prob=aug.flip_prob,
      mean=tuple(data.mean), std=tuple(data.std))
