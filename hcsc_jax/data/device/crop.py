"""RandomResizedCrop and the eval resize-and-centre-crop on the accelerator.

The crop window follows TensorFlow's `sample_distorted_bounding_box` (what
the tf.data path uses) draw for draw in distribution: up to 10 attempts,
each with an aspect ratio uniform in `ratio` and an integer height uniform
between the heights that give the smallest and the largest allowed area,
rounding as TF does (half to even); the first attempt that fits wins, the
whole image if none does. Note TF's offsets: uniform in [0, H - h), so a
window shorter than the image never touches its bottom (or right) edge.

Resizing is bilinear with half-pixel centres and no antialiasing
(`tf.image.resize`'s default), written as two small interpolation matrices
per view, `rows @ image @ cols^T`: dense work that suits accelerators and
needs no gather. The eval transform resizes only the centred window it
keeps (`augment.eval_window`), as the tf.data path does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
ATTEMPTS = 10
ASPECT_RATIO = (3.0 / 4.0, 4.0 / 3.0)


def _rint(x):
  """lrintf: round half to even, as an int32."""
  return jnp.round(x).astype(jnp.int32)


def crop_window(key: Array, height: int, width: int, scale, ratio=ASPECT_RATIO
                ) -> Array:
  """[4] int32 (top, left, crop height, crop width) of one random crop."""
  k_ratio, k_height, k_top, k_left = jax.random.split(key, 4)
  f32 = jnp.float32
  min_area = f32(scale[0]) * f32(width) * f32(height)
  max_area = f32(scale[1]) * f32(width) * f32(height)
  aspect = jax.random.uniform(k_ratio, (ATTEMPTS,), f32, ratio[0], ratio[1])
  h = _rint(jnp.sqrt(min_area / aspect))
  max_h = _rint(jnp.sqrt(max_area / aspect))
  # The largest height whose rounded width still fits the image.
  fitted = jnp.floor((f32(width) + 0.5 - 1e-7) / aspect).astype(jnp.int32)
  fitted = jnp.where(_rint(fitted * aspect) > width, fitted - 1, fitted)
  max_h = jnp.where(_rint(max_h * aspect) > width, fitted, max_h)
  max_h = jnp.minimum(max_h, height)
  h = jnp.minimum(h, max_h)
  spread = jnp.maximum(max_h - h + 1, 1)
  h = h + jnp.floor(jax.random.uniform(k_height, (ATTEMPTS,)) * spread
                    ).astype(jnp.int32).clip(0, spread - 1)
  w = _rint(h * aspect)
  area = (w * h).astype(f32)
  h = jnp.where(area < min_area, h + 1, h)
  w = jnp.where(area < min_area, _rint(h * aspect), w)
  area = (w * h).astype(f32)
  h = jnp.where(area > max_area, h - 1, h)
  w = jnp.where(area > max_area, _rint(h * aspect), w)
  area = (w * h).astype(f32)
  fits = ((area >= min_area) & (area <= max_area) & (w <= width)
          & (h <= height) & (w > 0) & (h > 0))
  top = _uniform_below(k_top, height - h)
  left = _uniform_below(k_left, width - w)
  first = jnp.argmax(fits)
  chosen = jnp.stack([top[first], left[first], h[first], w[first]])
  whole = jnp.asarray([0, 0, height, width], jnp.int32)
  return jnp.where(jnp.any(fits), chosen, whole)


def _uniform_below(key: Array, bound: Array) -> Array:
  """Integers uniform in [0, bound), 0 where bound <= 0 (TF's offsets)."""
  u = jax.random.uniform(key, bound.shape)
  safe = jnp.maximum(bound, 1)
  return jnp.where(bound > 0,
                   jnp.floor(u * safe).astype(jnp.int32).clip(0, safe - 1), 0)


def interpolation_matrix(start, length, in_size: int, out_size: int,
                         out_offset: int = 0, out_count: int | None = None
                         ) -> Array:
  """[out_count, in_size] bilinear weights (half-pixel centres, edge
  clamped) that resample the window [start, start + length) of an axis of
  `in_size` pixels to `out_size` samples, keeping samples
  [out_offset, out_offset + out_count). `start`/`length` may be traced."""
  out_count = out_size if out_count is None else out_count
  length = jnp.asarray(length, jnp.float32)
  position = ((jnp.arange(out_count, dtype=jnp.float32) + out_offset + 0.5)
              * (length / out_size) - 0.5)
  floor = jnp.floor(position)
  lerp = position - floor
  last = length.astype(jnp.int32) - 1
  lower = jnp.clip(floor.astype(jnp.int32), 0, last)
  upper = jnp.clip(jnp.ceil(position).astype(jnp.int32), 0, last)
  columns = jnp.arange(in_size)
  start = jnp.asarray(start, jnp.int32)
  pick = lambda i: (columns[None, :] == (i + start)[:, None]).astype(
      jnp.float32)
  return (1.0 - lerp)[:, None] * pick(lower) + lerp[:, None] * pick(upper)


def _resample(image: Array, rows: Array, cols: Array) -> Array:
  return jnp.einsum("oh,hwc,pw->opc", rows, image, cols,
                    precision=jax.lax.Precision.HIGHEST)


def resized_crop(image: Array, window: Array, size: int) -> Array:
  """The window (top, left, h, w) of a float [H, W, C] image resized to
  [size, size, C]."""
  height, width = image.shape[:2]
  rows = interpolation_matrix(window[0], window[2], height, size)
  cols = interpolation_matrix(window[1], window[3], width, size)
  return _resample(image, rows, cols)


def random_resized_crops(images: Array, key: Array, size: int, scale,
                         ratio=ASPECT_RATIO) -> Array:
  """[B, size, size, C] float crops of uint8 or float [B, H, W, C] images,
  one window per image from `key`. Values keep the input's range."""
  height, width = images.shape[1:3]
  keys = jax.random.split(key, images.shape[0])
  windows = jax.vmap(lambda k: crop_window(k, height, width, scale, ratio))(
      keys)
  return jax.vmap(lambda x, w: resized_crop(x.astype(jnp.float32), w, size))(
      images, windows)


def eval_matrices(height: int, width: int, resize: int, crop: int
                  ) -> tuple[np.ndarray, np.ndarray]:
  """(rows [crop, H], cols [crop, W]): the centred square that resizing the
  shorter side to `resize` and centre-cropping `crop` keeps, resized to
  crop x crop (as `augment.eval_view`, same integer window)."""
  if resize < crop:
    raise ValueError(f"eval resize {resize} is smaller than the {crop} px "
                     "centre crop.")
  shorter = min(height, width)
  side = min(shorter, (crop * shorter + resize // 2) // resize)
  top, left = (height - side) // 2, (width - side) // 2
  rows = interpolation_matrix(top, side, height, crop)
  cols = interpolation_matrix(left, side, width, crop)
  return np.asarray(rows), np.asarray(cols)


def eval_views(images: Array, rows: Array, cols: Array) -> Array:
  """[B, crop, crop, C] float views of [B, H, W, C] images."""
  return jax.vmap(lambda x: _resample(x.astype(jnp.float32), rows, cols))(
      images)
