"""The in-memory device path: crops against tf.data's, epochs, batches and
evaluation batches made from device arrays."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from hcsc_jax.data.tfdata import augment
from hcsc_jax.data.device import crop as device_crop
from hcsc_jax.data.device import views as device_views
from hcsc_jax.data.datasets import fashion_mnist_files
from hcsc_jax.data.datasets import idx
from hcsc_jax.data.device import in_memory
from hcsc_jax.data import sources
from hcsc_jax.data import specs
from hcsc_jax.errors import ConfigError
from hcsc_jax.runtime import sharding
from tests.trainer_fixtures import device_smoke_config, write_fashion_mnist

DRAWS = 3000


def _tf_windows(height, width, scale, count):
  out = []
  for i in range(count):
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        [height, width, 3], tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32,
                                        [1, 1, 4]),
        seed=[i, 11], min_object_covered=0.0,
        aspect_ratio_range=device_crop.ASPECT_RATIO, area_range=scale,
        max_attempts=10, use_image_if_no_bounding_boxes=True)
    out.append([begin[0], begin[1], size[0], size[1]])
  return np.asarray(out, np.float64)


def _device_windows(height, width, scale, count):
  keys = jax.random.split(jax.random.key(0), count)
  windows = jax.jit(jax.vmap(
      lambda k: device_crop.crop_window(k, height, width, scale)))(keys)
  return np.asarray(windows, np.float64)


def _statistics(windows, height, width):
  area = windows[:, 2] * windows[:, 3] / (height * width)
  aspect = windows[:, 3] / windows[:, 2]
  return {"area_mean": area.mean(), "area_std": area.std(),
          "area_q10": np.quantile(area, 0.1),
          "area_q90": np.quantile(area, 0.9),
          "aspect_mean": aspect.mean(), "aspect_std": aspect.std(),
          "top_mean": windows[:, 0].mean() / height,
          "left_mean": windows[:, 1].mean() / width}


@pytest.mark.parametrize("height, width, scale", [
    (28, 28, (0.3, 1.0)), (375, 500, (0.2, 1.0)), (28, 28, (0.08, 1.0))])
def test_crop_windows_follow_tf_sample_distorted_bounding_box(height, width,
                                                              scale):
  want = _statistics(_tf_windows(height, width, scale, DRAWS), height, width)
  got_windows = _device_windows(height, width, scale, DRAWS)
  got = _statistics(got_windows, height, width)
  # Standard errors at 3000 draws are ~0.004 for means of these quantities.
  for name in want:
    assert got[name] == pytest.approx(want[name], abs=0.02), name
  top, left, h, w = got_windows.T
  assert np.all((h >= 1) & (w >= 1) & (top + h <= height)
                & (left + w <= width))
  area = h * w / (height * width)
  inside = area[(h < height) | (w < width)]
  assert inside.min() >= scale[0] - 1e-6 and area.max() <= 1.0


@pytest.mark.parametrize("window", [(0, 0, 37, 53), (3, 5, 20, 30),
                                    (10, 2, 9, 11), (0, 0, 5, 40)])
def test_resized_crop_matches_tf_slice_and_resize(window):
  image = np.random.default_rng(0).random((37, 53, 3)).astype(np.float32)
  want = tf.image.resize(tf.slice(image, [window[0], window[1], 0],
                                  [window[2], window[3], 3]), [24, 24],
                         method="bilinear").numpy()
  got = device_crop.resized_crop(jnp.asarray(image), jnp.asarray(window), 24)
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


@pytest.mark.parametrize("height, width, resize, crop", [
    (28, 28, 28, 28), (28, 28, 32, 24), (37, 53, 32, 24),
    (375, 500, 256, 224)])
def test_eval_views_match_tf_eval_view(height, width, resize, crop):
  image = np.random.default_rng(1).integers(0, 256, (height, width, 3),
                                            dtype=np.uint8)
  spec = specs.AugmentSpec(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
  want = augment.eval_view(augment.to_rgb_float(tf.constant(image)), resize,
                           crop, spec).numpy()
  rows, cols = device_crop.eval_matrices(height, width, resize, crop)
  got = device_views.eval_views(jnp.asarray(image)[None], rows, cols, spec)
  np.testing.assert_allclose(np.asarray(got)[0], want, atol=1e-5)


def test_eval_resize_below_the_crop_is_refused():
  with pytest.raises(ValueError, match="is smaller than the 24 px centre"):
    device_crop.eval_matrices(28, 28, 16, 24)


@pytest.fixture(scope="module", name="source")
def _source(tmp_path_factory):
  return write_fashion_mnist(str(tmp_path_factory.mktemp("idx")), train=40,
                             test=12)


def test_an_epoch_sees_every_example_once_and_batches_repeat(source):
  config = device_smoke_config(source, batch_size=8)
  mesh = sharding.make_mesh()
  dataset = sources.open_dataset(config.data)
  data = dataset.pretrain_input(specs.pretrain_spec(config), mesh)
  assert data.num_examples == 40 and data.steps_per_epoch == 5
  make = jax.jit(data.batch)
  inputs = data.epoch_inputs(0)
  batches = [jax.device_get(make(inputs, jnp.int32(s))) for s in range(5)]
  seen = np.concatenate([b["index"] for b in batches])
  assert sorted(seen.tolist()) == list(range(40))
  assert batches[0]["query"].shape == (8, 16, 16, 3)
  assert not np.array_equal(batches[0]["query"], batches[0]["key"])
  # The same global step gives the same batch; the epoch's order differs.
  again = jax.device_get(make(data.epoch_inputs(0), jnp.int32(2)))
  for name in ("query", "key", "index"):
    np.testing.assert_array_equal(again[name], batches[2][name])
  next_epoch = jax.device_get(make(data.epoch_inputs(1), jnp.int32(5)))
  assert not np.array_equal(next_epoch["index"], batches[0]["index"])


def test_views_are_cut_from_the_indexed_images(source):
  """Constant images make views that depend only on the image's value:
  with no colour jitter, the query of example n is its normalised value."""
  directory = write_fashion_mnist(source + "_const", train=16, test=4)
  constant = np.broadcast_to((np.arange(16, dtype=np.uint8) * 10)[:, None,
                                                                  None],
                             (16, 28, 28))
  idx.write_idx(os.path.join(directory, fashion_mnist_files.FILES["train"][0]),
                constant)
  config = device_smoke_config(directory, batch_size=8,
                               **{"augment.jitter_prob": 0.0,
                                  "augment.grayscale_prob": 0.0,
                                  "augment.blur_prob": 0.0})
  dataset = sources.open_dataset(config.data)
  data = dataset.pretrain_input(specs.pretrain_spec(config),
                                sharding.make_mesh())
  batch = jax.device_get(jax.jit(data.batch)(data.epoch_inputs(0),
                                             jnp.int32(0)))
  mean, std = config.data.mean[0], config.data.std[0]
  want = (batch["index"] * 10 / 255.0 - mean) / std
  np.testing.assert_allclose(batch["query"][:, 3, 5, 0], want, atol=1e-5)
  np.testing.assert_allclose(batch["key"][:, 7, 2, 2], want, atol=1e-5)


def test_classifier_input_reads_only_its_subset_with_labels(source):
  config = device_smoke_config(source)
  dataset = sources.open_dataset(config.data)
  subset = np.asarray([1, 4, 9, 16, 25, 36])
  data = dataset.classifier_input(config.data, 3, 0, (0.3, 1.0), 0.5,
                                  subset, sharding.make_mesh())
  assert data.steps_per_epoch == 2
  make = jax.jit(data.batch)
  for epoch in (0, 1):
    inputs = data.epoch_inputs(epoch)
    batches = [jax.device_get(make(inputs, jnp.int32(epoch * 2 + s)))
               for s in range(2)]
    seen = np.concatenate([b["index"] for b in batches])
    assert sorted(seen.tolist()) == subset.tolist()
    for b in batches:
      np.testing.assert_array_equal(b["label"], b["index"] % 10)
      assert b["image"].shape == (3, 16, 16, 3)


def test_eval_batches_cover_the_split_in_order_with_a_mask(source):
  config = device_smoke_config(source)
  dataset = sources.open_dataset(config.data)
  count, batches = dataset.eval_batches("test", 8, sharding.make_mesh())
  assert count == 2
  host = [jax.device_get(b) for b in batches]
  index = np.concatenate([b["index"] for b in host])
  mask = np.concatenate([b["mask"] for b in host])
  np.testing.assert_array_equal(index[mask], np.arange(12))
  assert mask.sum() == 12 and not mask[12:].any()
  labels = np.concatenate([b["label"] for b in host])
  np.testing.assert_array_equal(labels[mask], np.arange(12) % 10)
  image = dataset.splits["test"].images[5, ..., 0]
  mean, std = config.data.mean[0], config.data.std[0]
  rows, cols = device_crop.eval_matrices(28, 28, 16, 16)
  want = (rows @ (image / 255.0) @ cols.T - mean) / std
  assert rows.shape == (16, 28)
  np.testing.assert_allclose(host[0]["image"][5, ..., 1], want, atol=1e-5)


def test_device_path_names_what_it_cannot_hold(source):
  config = device_smoke_config(source)
  config.data.name = "imagenet2012"
  with pytest.raises(ConfigError, match="data.pipeline=tfdata"):
    in_memory.InMemoryDataset(config.data)
  config = device_smoke_config(source)
  config.data.train_split = "train[:10]"
  with pytest.raises(ConfigError, match="takes whole splits"):
    in_memory.InMemoryDataset(config.data)
  config = device_smoke_config(source + "_missing")
  with pytest.raises(FileNotFoundError, match="apt-get install dataset-"):
    sources.open_dataset(config.data)
