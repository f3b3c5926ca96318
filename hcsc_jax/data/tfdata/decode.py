"""Decoding stored images as late and as little as possible (tf.data).

A JPEG is decoded once per training example, and only the window that its
views need: both views' crop windows are drawn first from the header's
image size (`tf.io.extract_jpeg_shape`), then `decode_and_crop_jpeg`
decodes their union, and each view is cut from it and resized in uint8
terms (rounded back to uint8; colour jitter, grayscale, blur, flip and
normalisation run on the accelerator). For evaluation, only the centre
window the eval transform keeps is decoded.

Anything that is not a JPEG (ImageNet holds a PNG under a .JPEG name; TFDS
builders such as Fashion-MNIST's store PNGs) is decoded whole and cropped.
CMYK and grayscale JPEGs come out as RGB (`channels=3`).
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from hcsc_jax.data.tfdata import augment
from hcsc_jax.data.specs import ViewSpec


def image_size(data: tf.Tensor, channels: int) -> tf.Tensor:
  """[2] int32 (height, width) of encoded image bytes; JPEGs from their
  header, other formats by decoding."""
  return tf.cond(
      tf.io.is_jpeg(data),
      lambda: tf.io.extract_jpeg_shape(data)[:2],
      lambda: tf.shape(tf.io.decode_image(data, channels=channels,
                                          expand_animations=False))[:2])


def decode_window(data: tf.Tensor, window: tf.Tensor,
                  channels: int) -> tf.Tensor:
  """uint8 [h, w, channels] of the window (top, left, h, w) of an encoded
  image, decoding only that window when it is a JPEG."""
  def jpeg():
    return tf.io.decode_and_crop_jpeg(data, window, channels=channels)

  def other():
    image = tf.io.decode_image(data, channels=channels,
                               expand_animations=False)
    return tf.slice(image, [window[0], window[1], 0],
                    [window[2], window[3], -1])

  image = tf.cond(tf.io.is_jpeg(data), jpeg, other)
  return tf.ensure_shape(image, [None, None, channels])


def crop_window(size: tf.Tensor, seed: tf.Tensor, scale) -> tf.Tensor:
  """[4] int32 (top, left, h, w): RandomResizedCrop's window as tf.data's
  `sample_distorted_bounding_box` draws it (see device_crop)."""
  begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.concat([size, [3]], 0),
      tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, [1, 1, 4]), seed=seed,
      min_object_covered=0.0, aspect_ratio_range=(3 / 4, 4 / 3),
      area_range=scale, max_attempts=10, use_image_if_no_bounding_boxes=True)
  return tf.stack([begin[0], begin[1], extent[0], extent[1]])


def resize_uint8(image: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
  """Bilinear resize (half-pixel centres, no antialiasing) of a uint8 image,
  rounded back to uint8, with 1 channel repeated to 3."""
  resized = tf.image.resize(image, size, method="bilinear")
  out = tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)
  if image.shape[-1] == 1:
    out = tf.tile(out, [1, 1, 3])
  return out


def train_crops(data: tf.Tensor, seeds: Sequence[tf.Tensor],
                views: Sequence[ViewSpec], channels: int) -> list[tf.Tensor]:
  """One uint8 [size, size, 3] crop per view from one decode of the union
  of their windows. `seeds[i]` is view i's seed as `augment.train_view`
  takes it, so each window is the one train_view would cut."""
  size = image_size(data, channels)
  windows = [crop_window(size, tf.random.experimental.stateless_split(
      seed, 9)[0], view.scale) for seed, view in zip(seeds, views)]
  stacked = tf.stack(windows)
  top = tf.reduce_min(stacked[:, 0])
  left = tf.reduce_min(stacked[:, 1])
  bottom = tf.reduce_max(stacked[:, 0] + stacked[:, 2])
  right = tf.reduce_max(stacked[:, 1] + stacked[:, 3])
  union = decode_window(data, tf.stack([top, left, bottom - top,
                                        right - left]), channels)
  crops = []
  for window, view in zip(windows, views):
    crop = tf.ensure_shape(  # tf.slice forgets the static channel count
        tf.slice(union, [window[0] - top, window[1] - left, 0],
                 [window[2], window[3], -1]), [None, None, channels])
    crops.append(tf.ensure_shape(resize_uint8(crop, [view.size, view.size]),
                                 [view.size, view.size, 3]))
  return crops


def eval_crop(data: tf.Tensor, resize: int, crop: int,
              channels: int) -> tf.Tensor:
  """uint8 [crop, crop, 3]: the eval transform's window, decoded alone and
  resized (normalisation happens on the devices)."""
  size = image_size(data, channels)
  top, left, side = augment.eval_window(size[0], size[1], resize, crop)
  window = decode_window(data, tf.stack([top, left, side, side]), channels)
  return tf.ensure_shape(resize_uint8(window, [crop, crop]), [crop, crop, 3])


def full_image(data: tf.Tensor, channels: int) -> tf.Tensor:
  """The whole image as float RGB in [0, 1] (the host-augmentation path)."""
  image = tf.io.decode_image(data, channels=channels, expand_animations=False)
  return augment.to_rgb_float(tf.ensure_shape(image, [None, None, channels]))
