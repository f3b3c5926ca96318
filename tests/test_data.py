"""Fashion-MNIST builder, augmentations and tf.data pipelines."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from hcsc_jax.data.tfdata import augment
from hcsc_jax.data.datasets import fashion_mnist_files
from hcsc_jax.data.datasets import idx
from hcsc_jax.data.tfdata import pipeline
from hcsc_jax.data import specs
from hcsc_jax import errors
from tests.trainer_fixtures import MOCK_EXAMPLES, mock_fashion_mnist, smoke_config


@pytest.fixture(scope="module", name="tiny_source")
def _tiny_source(tmp_path_factory):
  """Real idx files with 40 train / 12 test images: image n is filled with n."""
  source = tmp_path_factory.mktemp("idx")
  for split, count in (("train", 40), ("test", 12)):
    images_name, labels_name = fashion_mnist_files.FILES[split]
    images = np.repeat(np.arange(count, dtype=np.uint8)[:, None, None], 28, 1)
    images = np.repeat(images, 28, 2)
    idx.write_idx(str(source / images_name), images)
    idx.write_idx(str(source / labels_name), np.arange(count) % 10)
  return str(source)


def test_builder_reads_idx_files_in_order(tiny_source, tmp_path):
  config = smoke_config()
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = tiny_source
  builder = pipeline.load_builder(config.data)
  assert pipeline.num_examples(builder, "train") == 40
  assert pipeline.num_examples(builder, "test") == 12
  examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
  assert [int(e["image"][0, 0, 0]) for e in examples] == list(range(40))
  assert [int(e["label"]) for e in examples] == [n % 10 for n in range(40)]


def test_builder_missing_source_says_how_to_install(tmp_path):
  config = smoke_config()
  config.data.data_dir = str(tmp_path / "tfds")
  config.data.manual_dir = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="apt-get install dataset-"):
    pipeline.load_builder(config.data)


def test_truncated_idx_file_is_reported(tmp_path):
  path = str(tmp_path / "broken.gz")
  idx.write_idx(path, np.zeros((4, 28, 28), np.uint8))
  import gzip  # pylint: disable=g-import-not-at-top
  with gzip.open(path, "rb") as f:
    data = f.read()
  with gzip.open(path, "wb") as f:
    f.write(data[:-10])
  with pytest.raises(ValueError, match="truncated"):
    idx.read_idx(path)


def test_training_epoch_covers_each_index_once_per_process(tiny_source,
                                                           tmp_path):
  config = smoke_config(batch_size=8)
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = tiny_source
  builder = pipeline.load_builder(config.data)
  seen = []
  for process in range(2):
    data = pipeline.TrainData(builder, config.data,
                              specs.pretrain_spec(config), process, 2)
    assert data.local_batch == 4 and data.steps_per_epoch == 5
    batches = list(data.epoch(0))
    assert len(batches) == 5
    for batch in batches:
      assert batch["query"].shape == (4, 16, 16, 3)
      assert batch["key"].shape == (4, 16, 16, 3)
      seen.extend(batch["index"].tolist())
    indices = [i for b in batches for i in b["index"]]
    assert all(data.start <= i < data.end for i in indices)
  assert len(seen) == len(set(seen)) == 40
  # Same epoch -> same views; resuming at step 2 gives the tail exactly.
  data = pipeline.TrainData(builder, config.data,
                            specs.pretrain_spec(config), 0, 1)
  full = list(data.epoch(3))
  tail = list(data.epoch(3, start_step=2))
  for a, b in zip(full[2:], tail):
    np.testing.assert_array_equal(a["query"], b["query"])
    np.testing.assert_array_equal(a["index"], b["index"])
  other = list(data.epoch(4))
  assert not np.array_equal(full[0]["index"], other[0]["index"])


def test_eval_batches_are_padded_and_equal_in_count(tiny_source, tmp_path):
  config = smoke_config()
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = tiny_source
  builder = pipeline.load_builder(config.data)
  counts, rows = [], []
  for process in range(3):
    count, batches = pipeline.eval_batches(builder, config.data, "test", 6,
                                           process, 3)
    batches = list(batches)
    assert len(batches) == count
    counts.append(count)
    for batch in batches:
      assert batch["image"].shape == (2, 16, 16, 3)
      rows.extend(batch["index"][batch["mask"]].tolist())
  assert len(set(counts)) == 1
  assert sorted(rows) == list(range(12))


def test_augmentations_are_deterministic_eagerly_and_in_tf_data():
  image = tf.constant(np.random.default_rng(0).integers(
      0, 255, (28, 28, 1)), tf.uint8)
  spec = augment.AugmentSpec(blur_sigma=(0.1, 0.5))
  view = augment.ViewSpec(16, (0.2, 1.0))
  seed = augment.example_seed(0, 2, 5)
  eager = augment.train_view(augment.to_rgb_float(image), seed, view, spec)
  ds = tf.data.Dataset.from_tensors(image).map(
      lambda x: augment.train_view(augment.to_rgb_float(x),
                                   augment.example_seed(0, 2, 5), view, spec))
  graph = next(iter(ds))
  assert eager.shape == (16, 16, 3)
  np.testing.assert_allclose(eager, graph, rtol=1e-5, atol=1e-5)
  other = augment.train_view(augment.to_rgb_float(image),
                             augment.example_seed(0, 2, 6), view, spec)
  assert not np.allclose(eager, other)


def test_eval_view_centre_crops_and_normalises():
  image = tf.ones((40, 30, 3), tf.float32) * 0.5
  spec = augment.AugmentSpec(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
  out = augment.eval_view(image, 32, 28, spec)
  assert out.shape == (28, 28, 3)
  np.testing.assert_allclose(out, 0.0, atol=1e-6)


def test_color_jitter_and_blur_keep_range():
  image = tf.random.stateless_uniform((16, 16, 3), [1, 2])
  jittered = augment.color_jitter(image, tf.constant([3, 4], tf.int64),
                                  (0.4, 0.4, 0.4, 0.1))
  assert float(tf.reduce_min(jittered)) >= 0.0
  assert float(tf.reduce_max(jittered)) <= 1.0
  blurred = augment.gaussian_blur(image, tf.constant([5, 6], tf.int64),
                                  (0.1, 2.0), 16)
  assert blurred.shape == (16, 16, 3)
  # A blur preserves the mean of a constant image.
  flat = augment.gaussian_blur(tf.ones((16, 16, 3)) * 0.3,
                               tf.constant([1, 1], tf.int64), (1.0, 2.0), 16)
  np.testing.assert_allclose(flat, 0.3, rtol=1e-5)


def test_mock_data_pipeline_gives_indices():
  with mock_fashion_mnist():
    config = smoke_config()
    builder = pipeline.load_builder(config.data)
    data = pipeline.TrainData(builder, config.data,
                              specs.pretrain_spec(config))
    assert data.num_examples == MOCK_EXAMPLES
    batch = next(iter(data.epoch(0)))
    assert batch["index"].dtype == np.int32
    assert batch["query"].shape == (16, 16, 16, 3)


class _FakeBuilder:
  """Stands in for a TFDS builder whose stored image 3 is not an image."""

  def __init__(self, real):
    self.info = real.info
    self._real = real

  def as_dataset(self, split, shuffle_files, decoders):
    del shuffle_files, decoders
    images, labels = [], []
    for example in tfds.as_numpy(self._real.as_dataset(
        split=split, decoders={"image": tfds.decode.SkipDecoding()})):
      images.append(example["image"])
      labels.append(example["label"])
    images[3] = b"this is not a png"
    return tf.data.Dataset.from_tensor_slices({"image": images,
                                               "label": labels})


def test_undecodable_image_is_skipped_and_counted(tiny_source, tmp_path,
                                                  caplog):
  import jax  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  config = smoke_config()
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = tiny_source
  dataset = pipeline.TFDSDataset(config.data)
  dataset.builder = _FakeBuilder(dataset.builder)
  mesh = sharding.make_mesh()
  flatten = jax.jit(lambda p, s, images: images.reshape(images.shape[0], -1))
  with caplog.at_level("INFO"):
    features, labels = features_lib.split_features(
        flatten, None, None, dataset, "train", config.embed_batch_size, mesh,
        "test")
  assert features.shape == (40, 16 * 16 * 3)
  assert labels[3] == -1 and np.all(features[3] == 0)
  assert np.all(labels[np.arange(40) != 3] >= 0)
  assert "1 of 40 images could not be decoded" in caplog.text


def test_imagenet_without_manual_dir_says_what_to_download(tmp_path):
  config = smoke_config()
  config.data.name = "imagenet2012"
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = str(tmp_path / "missing")
  with pytest.raises(FileNotFoundError, match="ILSVRC2012_img_train.tar"):
    pipeline.load_builder(config.data)


def test_multicrop_views_have_their_sizes(tiny_source, tmp_path):
  from hcsc_jax.configs import hcsc_r50_imagenet_multicrop  # pylint: disable=g-import-not-at-top
  config = hcsc_r50_imagenet_multicrop.get_config("smoke")
  config.batch_size = 8
  config.data.name = "fashion_mnist_local"
  config.data.train_split, config.data.eval_split = "train", "test"
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = tiny_source
  builder = pipeline.load_builder(config.data)
  batch = next(iter(pipeline.TrainData(
      builder, config.data, specs.pretrain_spec(config)).epoch(0)))
  assert batch["local_0"].shape == (8, 12, 12, 3)
  assert batch["local_1"].shape == (8, 8, 8, 3)


def test_a_failed_preparation_is_one_line_naming_the_cause(tiny_source,
                                                           tmp_path,
                                                           monkeypatch):
  def offline(self, *args, **kwargs):  # pylint: disable=unused-argument
    raise ConnectionError("Failed to establish a new connection: [Errno -3] "
                          "Temporary failure in name resolution")

  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                      offline)
  config = smoke_config()
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = tiny_source
  with pytest.raises(errors.DataPreparationError,
                     match=r"could not prepare fashion_mnist_local in .*"
                     r"ConnectionError: Failed to establish.*may be offline"):
    pipeline.load_builder(config.data)


def test_the_registry_names_a_source_for_every_data_set_it_lists():
  from hcsc_jax.data.datasets import registry  # pylint: disable=g-import-not-at-top
  for name, source in registry.SOURCES.items():
    for reference in (source.arrays, source.tfds_manual_dir):
      if reference:
        assert callable(registry.resolve(reference)), (name, reference)
  assert registry.device_names() == ["fashion_mnist_local", "image_folder"]
  assert registry.source("imagenet2012_subset/10pct") is registry.SOURCES[
      "imagenet2012_subset"]
  assert registry.source("imagenet2012_real") is registry.SOURCES[
      "imagenet2012"]
  assert registry.source("cifar10") == registry.Source()
  config = smoke_config(**{"data.pipeline": "device", "data.name": "cifar10"})
  with pytest.raises(errors.ConfigError,
                     match=r"reads \['fashion_mnist_local', 'image_folder'\] "
                     "from their files"):
    from hcsc_jax.data.device import in_memory  # pylint: disable=g-import-not-at-top
    in_memory.InMemoryDataset(config.data)
