"""What the input paths are asked for, free of TensorFlow so the
accelerator side (device_augment, the train step) can use it on hosts
without it: views, augmentations and the pre-training input's own block."""

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


@dataclasses.dataclass(frozen=True)
class PretrainInputSpec:
  """The pre-training input's block: everything an input path needs beyond
  the `data` block, read once from the run config (`pretrain_spec`).

  views: the query/key view, then the local (multi-crop) views.
  augment_on_device: the host only crops (uint8); the rest runs in the step.
  """
  batch_size: int
  seed: int
  global_view: ViewSpec
  local_views: tuple[ViewSpec, ...]
  augment: AugmentSpec
  augment_on_device: bool
  max_steps_per_epoch: int | None = None

  @property
  def view_specs(self) -> dict[str, ViewSpec]:
    """Name -> view, in the order the step receives them."""
    views = {"query": self.global_view, "key": self.global_view}
    views.update({f"local_{i}": view
                  for i, view in enumerate(self.local_views)})
    return views


def pretrain_spec(config) -> PretrainInputSpec:
  """The PretrainInputSpec of a run's config."""
  aug, data = config.augment, config.data
  return PretrainInputSpec(
      batch_size=config.batch_size, seed=config.seed,
      global_view=ViewSpec(data.image_size, tuple(aug.scale)),
      local_views=tuple(ViewSpec(size, tuple(scale)) for size, scale in
                        zip(aug.local_sizes, aug.local_scales)),
      augment=AugmentSpec(
          jitter_prob=aug.jitter_prob, jitter=tuple(aug.jitter),
          grayscale_prob=aug.grayscale_prob, blur_prob=aug.blur_prob,
          blur_sigma=tuple(aug.blur_sigma), flip_prob=aug.flip_prob,
          mean=tuple(data.mean), std=tuple(data.std)),
      augment_on_device=aug.on_device,
      max_steps_per_epoch=config.max_steps_per_epoch)
