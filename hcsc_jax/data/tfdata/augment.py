"""MoCo v2 augmentations as stateless TensorFlow ops (docs/method.md §6).

Every random choice takes an explicit seed derived from (run seed, epoch,
dataset index), so an epoch's views are identical however tf.data schedules
the work, which is what makes resuming mid-epoch exact.

Images enter as uint8 HWC and leave as float32, normalised with the dataset's
mean and std; grayscale data are replicated to 3 channels first.
"""

from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf

from hcsc_jax.data.specs import AugmentSpec, ViewSpec  # pylint: disable=unused-import


def example_seed(base_seed: int, epoch, index) -> tf.Tensor:
  """[2] int64 stateless seed of one example in one epoch."""
  seed = tf.constant([base_seed, 0], tf.int64)
  seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(epoch,
                                                                tf.int64))
  return tf.random.experimental.stateless_fold_in(seed, tf.cast(index,
                                                                tf.int64))


def to_rgb_float(image: tf.Tensor) -> tf.Tensor:
  """uint8 HWC (1 or 3 channels) -> float32 RGB in [0, 1]."""
  image = tf.image.convert_image_dtype(image, tf.float32)
  if image.shape[-1] == 1:
    image = tf.tile(image, [1, 1, 3])
  return image


def random_resized_crop(image, seed, size: int, scale, ratio=(3 / 4, 4 / 3)):
  begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32,
                                   [1, 1, 4]),
      seed=seed, min_object_covered=0.0, aspect_ratio_range=ratio,
      area_range=scale, max_attempts=10, use_image_if_no_bounding_boxes=True)
  crop = tf.slice(image, begin, crop_size)
  return tf.image.resize(crop, [size, size], method="bilinear")


def _grayscale3(image):
  return tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3])


def color_jitter(image, seed, strength: Sequence[float]):
  """torchvision ColorJitter: the four adjustments in a random order."""
  brightness, contrast, saturation, hue = strength
  seeds = tf.random.experimental.stateless_split(seed, 5)
  factor = lambda s, w: tf.random.stateless_uniform([], s, 1 - w, 1 + w)
  b = factor(seeds[0], brightness)
  c = factor(seeds[1], contrast)
  s = factor(seeds[2], saturation)
  h = tf.random.stateless_uniform([], seeds[3], -hue, hue)

  def adjust_brightness(x):
    return tf.clip_by_value(x * b, 0.0, 1.0)

  def adjust_contrast(x):
    mean = tf.reduce_mean(tf.image.rgb_to_grayscale(x))
    return tf.clip_by_value((x - mean) * c + mean, 0.0, 1.0)

  def adjust_saturation(x):
    gray = _grayscale3(x)
    return tf.clip_by_value((x - gray) * s + gray, 0.0, 1.0)

  def adjust_hue(x):
    return tf.image.adjust_hue(x, h)

  branches = [adjust_brightness, adjust_contrast, adjust_saturation,
              adjust_hue]
  order = tf.argsort(tf.random.stateless_uniform([4], seeds[4]))
  for i in range(4):
    image = tf.switch_case(order[i], [lambda f=f: f(image) for f in branches])
  return image


def gaussian_blur(image, seed, sigma_range, size: int):
  """Separable Gaussian blur with sigma ~ U(sigma_range), reflect padding.

  The kernel reaches 3 sigma_max, capped so reflection fits a `size` image.
  """
  sigma = tf.random.stateless_uniform([], seed, *sigma_range)
  radius = max(1, min(int(math.ceil(3 * sigma_range[1])), size - 1))
  x = tf.range(-radius, radius + 1, dtype=tf.float32)
  kernel = tf.exp(-0.5 * tf.square(x / sigma))
  kernel = kernel / tf.reduce_sum(kernel)
  padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius],
                                [0, 0]], mode="REFLECT")
  channels = image.shape[-1]
  horizontal = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
  vertical = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
  out = tf.nn.depthwise_conv2d(padded, horizontal, [1, 1, 1, 1], "VALID")
  out = tf.nn.depthwise_conv2d(out, vertical, [1, 1, 1, 1], "VALID")
  return out[0]


def _maybe(apply_prob: float, seed, fn, image):
  if apply_prob <= 0:
    return image
  coin = tf.random.stateless_uniform([], seed)
  return tf.cond(coin < apply_prob, lambda: fn(image), lambda: image)


def normalise(image, spec: AugmentSpec):
  mean = tf.constant(spec.mean, tf.float32)
  std = tf.constant(spec.std, tf.float32)
  return (image - mean) / std


def train_view(image, seed, view: ViewSpec, spec: AugmentSpec):
  """One MoCo v2 view of a float RGB image in [0, 1]."""
  seeds = tf.random.experimental.stateless_split(seed, 9)
  shape = [view.size, view.size, 3]
  image = random_resized_crop(image, seeds[0], view.size, view.scale)
  image = tf.ensure_shape(image, shape)
  image = _maybe(spec.jitter_prob, seeds[1],
                 lambda x: color_jitter(x, seeds[2], spec.jitter), image)
  image = tf.ensure_shape(image, shape)  # switch_case forgets static shapes
  image = _maybe(spec.grayscale_prob, seeds[3], _grayscale3, image)
  image = _maybe(spec.blur_prob, seeds[4],
                 lambda x: gaussian_blur(x, seeds[5], spec.blur_sigma, view.size),
                 image)
  image = _maybe(spec.flip_prob, seeds[6], tf.image.flip_left_right, image)
  image = tf.ensure_shape(image, shape)
  return normalise(image, spec)


def eval_window(height, width, resize: int, crop: int):
  """(top, left, side): the centred square that "resize the shorter side to
  `resize`, then centre-crop `crop`" keeps, in source pixels. Integer
  arithmetic, so `device_crop.eval_matrices` computes the same window."""
  shorter = tf.minimum(height, width)
  side = tf.minimum(shorter, (crop * shorter + resize // 2) // resize)
  return (height - side) // 2, (width - side) // 2, side


def eval_view(image, resize: int, crop: int, spec: AugmentSpec):
  """The eval transform of a float image: the centred window that resizing
  the shorter side to `resize` and centre-cropping `crop` keeps, resized to
  crop x crop (one resize of only the pixels kept), normalised."""
  shape = tf.shape(image)
  top, left, side = eval_window(shape[0], shape[1], resize, crop)
  window = tf.slice(image, [top, left, 0], [side, side, -1])
  image = tf.image.resize(window, [crop, crop], method="bilinear")
  image = tf.ensure_shape(image, [crop, crop, 3])
  return normalise(image, spec)
