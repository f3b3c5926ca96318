"""Whole augmented views made on the accelerator from uint8 images: the
crop (`device_crop`), then the elementwise MoCo v2 steps and normalisation
(`device_augment`). Used by the in-memory input path, where the train step
builds its own batch."""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from hcsc_jax.data import device_augment
from hcsc_jax.data.device import crop as device_crop
from hcsc_jax.data.specs import AugmentSpec, ViewSpec

Array = jax.Array


def as_rgb(images: Array) -> Array:
  """[..., 1] grayscale -> [..., 3]; RGB unchanged."""
  if images.shape[-1] == 1:
    return jnp.broadcast_to(images, images.shape[:-1] + (3,))
  return images


def train_views(images: Array, key: Array, views: Mapping[str, ViewSpec],
                spec: AugmentSpec) -> dict[str, Array]:
  """{name: [B, size, size, 3] normalised float32} for uint8 [B, H, W, C]
  images: each view its own crop windows and augmentation draws."""
  out = {}
  for i, (name, view) in enumerate(views.items()):
    crop_key, augment_key = jax.random.split(jax.random.fold_in(key, i))
    crops = device_crop.random_resized_crops(images, crop_key, view.size,
                                             view.scale) / 255.0
    out[name] = device_augment.augment_batch(as_rgb(crops), augment_key,
                                             spec)
  return out


def eval_views(images: Array, rows: Array, cols: Array,
               spec: AugmentSpec) -> Array:
  """The eval transform (resize, centre crop, normalise) of uint8 images."""
  views = device_crop.eval_views(images, rows, cols) / 255.0
  return device_augment.normalise(as_rgb(views), spec)
