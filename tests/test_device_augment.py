"""On-accelerator augmentations mirror the tf.data ones op for op."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from hcsc_jax.data.tfdata import augment
from hcsc_jax.data.tfdata import decode
from hcsc_jax.data import device_augment
from hcsc_jax.data.specs import AugmentSpec, ViewSpec
from hcsc_jax.runtime import sharding
from tests.test_step import _active_state_and_step
from tests.trainer_fixtures import smoke_config

IMAGE = np.random.default_rng(0).uniform(size=(16, 16, 3)).astype(np.float32)


@pytest.mark.parametrize("name, ours, theirs", [
    ("hue", lambda x: device_augment.adjust_hue(x, 0.07),
     lambda x: tf.image.adjust_hue(x, 0.07)),
    ("negative hue", lambda x: device_augment.adjust_hue(x, -0.1),
     lambda x: tf.image.adjust_hue(x, -0.1)),
    ("grayscale", device_augment.grayscale3,
     lambda x: tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 3])),
    ("brightness", lambda x: device_augment.adjust_brightness(x, 1.3),
     lambda x: tf.clip_by_value(x * 1.3, 0.0, 1.0)),
    ("blur", lambda x: device_augment.gaussian_blur(x, 0.7, 0.7),
     lambda x: augment.gaussian_blur(x, tf.constant([1, 2], tf.int64),
                                     (0.7, 0.7), 16)),
])
def test_ops_match_tensorflow(name, ours, theirs):
  got = np.asarray(ours(jnp.asarray(IMAGE)))
  want = np.asarray(theirs(tf.constant(IMAGE)))
  np.testing.assert_allclose(got, want, atol=2e-6, err_msg=name)


def test_color_jitter_matches_tf_branch_for_branch():
  """Contrast and saturation as augment.color_jitter computes them."""
  mean = float(tf.reduce_mean(tf.image.rgb_to_grayscale(IMAGE)))
  np.testing.assert_allclose(
      device_augment.adjust_contrast(jnp.asarray(IMAGE), 0.6),
      np.clip((IMAGE - mean) * 0.6 + mean, 0, 1), atol=2e-6)
  gray = np.tile(tf.image.rgb_to_grayscale(IMAGE).numpy(), [1, 1, 3])
  np.testing.assert_allclose(
      device_augment.adjust_saturation(jnp.asarray(IMAGE), 1.4),
      np.clip((IMAGE - gray) * 1.4 + gray, 0, 1), atol=2e-6)


def test_batch_augmentation_is_keyed_and_in_range():
  images = (np.random.default_rng(1).uniform(size=(6, 16, 16, 3)) * 255
            ).astype(np.uint8)
  spec = AugmentSpec(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                     blur_sigma=(0.1, 0.5))
  a = device_augment.augment_batch(jnp.asarray(images), jax.random.key(0),
                                   spec)
  b = device_augment.augment_batch(jnp.asarray(images), jax.random.key(0),
                                   spec)
  c = device_augment.augment_batch(jnp.asarray(images), jax.random.key(1),
                                   spec)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0 + 1e-6
  # Rows get their own draws: identical inputs, different outputs.
  same = np.repeat(images[:1], 6, axis=0)
  rows = device_augment.augment_batch(jnp.asarray(same), jax.random.key(2),
                                      spec)
  assert len({np.asarray(r).tobytes() for r in rows}) > 1


@pytest.mark.parametrize("channels", [3, 1])
def test_uint8_crops_from_one_decode_are_train_views_crops(channels):
  """Both views cut from one decode of their union window (a PNG here, so
  decoding is exact) are train_view's crops, rounded to uint8."""
  pixels = (np.asarray(IMAGE) * 255).round().astype(np.uint8)
  pixels = pixels if channels == 3 else pixels[..., :1]
  data = tf.io.encode_png(pixels)
  seeds = [tf.constant([3, 4], tf.int64), tf.constant([5, 6], tf.int64)]
  views = [ViewSpec(8, (0.3, 1.0)), ViewSpec(6, (0.1, 0.5))]
  plain = AugmentSpec(jitter_prob=0, grayscale_prob=0, blur_prob=0,
                      flip_prob=0, mean=(0, 0, 0), std=(1, 1, 1))
  image = augment.to_rgb_float(tf.constant(pixels))
  got = decode.train_crops(data, seeds, views, channels)
  for crop, seed, view in zip(got, seeds, views):
    want = augment.train_view(image, seed, view, plain).numpy()
    assert crop.dtype == tf.uint8 and crop.shape == (view.size, view.size, 3)
    np.testing.assert_allclose(crop.numpy() / 255.0, want,
                               atol=0.5 / 255 + 1e-5)


def test_train_step_augments_uint8_views_on_device():
  config = smoke_config(**{"augment.on_device": True})
  mesh = sharding.make_mesh()
  state, train_step = _active_state_and_step(config, mesh)
  rng = np.random.default_rng(0)
  size = config.data.image_size
  batch = {name: rng.integers(0, 256, (16, size, size, 3), dtype=np.uint8)
           for name in ("query", "key")}
  batch["index"] = rng.integers(0, 64, 16).astype(np.int32)
  state, metrics = train_step(state, sharding.put_batch(batch, mesh))
  assert np.isfinite(float(metrics["loss"]))
