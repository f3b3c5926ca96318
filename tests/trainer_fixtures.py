"""Shared pieces of the trainer tests: configs and mock data."""

import contextlib
import os

import tensorflow_datasets as tfds

from configs import fashion_mnist

TESTDATA = os.path.join(os.path.dirname(__file__), "testdata")
MOCK_EXAMPLES = 64


def smoke_config(**overrides):
  config = fashion_mnist.get_config("smoke")
  config.data.data_dir = TESTDATA
  for dotted, value in overrides.items():
    node = config
    *parents, leaf = dotted.split(".")
    for name in parents:
      node = node[name]
    node[leaf] = value
  return config


@contextlib.contextmanager
def mock_fashion_mnist():
  """Random Fashion-MNIST-shaped data with the metadata in tests/testdata."""
  from hcsc_jax.data import fashion_mnist_local  # pylint: disable=unused-import
  with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES, data_dir=TESTDATA):
    yield
