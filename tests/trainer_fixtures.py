"""Shared pieces of the trainer tests: configs, mock data (tf.data path)
and tiny idx files (the in-memory device path)."""

import contextlib
import os
import shutil

import numpy as np

from hcsc_jax.configs import fashion_mnist
from hcsc_jax.data.datasets import fashion_mnist_files
from hcsc_jax.data.datasets import idx

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
MOCK_EXAMPLES = 64


def override(config, overrides):
  """Sets dotted fields (`{"knn.enabled": False}`) of a ConfigDict."""
  for dotted, value in overrides.items():
    node = config
    *parents, leaf = dotted.split(".")
    for name in parents:
      node = node[name]
    node[leaf] = value
  return config


def smoke_config(**overrides):
  """The smoke config on the tf.data path (mock data, `mock_fashion_mnist`)."""
  config = fashion_mnist.get_config("smoke")
  config.data.pipeline = "tfdata"
  config.data.data_dir = TESTDATA
  return override(config, overrides)


def reference_config():
  """The shared tf.data smoke run's config (conftest's
  `tfdata_reference_run`): the smoke config with the hierarchy figures
  logged at its last epoch."""
  return smoke_config(visualize_every=2, visualize_sample=48)


def device_smoke_config(source_dir: str, **overrides):
  """The smoke config on the in-memory device path, reading idx files from
  `source_dir` (`write_fashion_mnist`)."""
  config = fashion_mnist.get_config("smoke")
  config.data.pipeline = "device"
  config.data.manual_dir = source_dir
  return override(config, overrides)


def write_fashion_mnist(directory: str, train: int = MOCK_EXAMPLES,
                        test: int = 32, seed: int = 0) -> str:
  """Fashion-MNIST-shaped idx files of random images (labels n % 10)."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  for split, count in (("train", train), ("test", test)):
    images_name, labels_name = fashion_mnist_files.FILES[split]
    idx.write_idx(os.path.join(directory, images_name),
                  rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
    idx.write_idx(os.path.join(directory, labels_name),
                  np.arange(count) % 10)
  return directory


@contextlib.contextmanager
def mock_fashion_mnist():
  """Random Fashion-MNIST-shaped data with the metadata in tests/testdata."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import fashion_mnist_local  # pylint: disable=unused-import,g-import-not-at-top
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, data_dir=TESTDATA):
    yield


def copied_workdir(workdir: str, tmp_path_factory, name: str) -> str:
  """A copy of a shared run's workdir for a test module that writes in it
  (evaluation results, exports)."""
  copy = str(tmp_path_factory.mktemp(name) / "run")
  shutil.copytree(workdir, copy)
  return copy
