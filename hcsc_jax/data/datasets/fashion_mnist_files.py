"""Fashion-MNIST's original idx files (Debian's `dataset-fashion-mnist`):
where they live, what they are called, and reading them into arrays.

Both input paths use this module: the TFDS builder (`fashion_mnist_local`,
for tf.data) and the in-memory device path, which needs no TensorFlow.
"""

from __future__ import annotations

import os

import numpy as np

from hcsc_jax.data.datasets import idx
from hcsc_jax.data.datasets import registry

DEFAULT_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
INSTALL_HINT = ("install them with `apt-get install dataset-fashion-mnist` "
                "or pass --config.data.manual_dir=<folder holding "
                + ", ".join(sum(FILES.values(), ())) + ">")


def source_dir(manual_dir: str | None) -> str:
  return manual_dir or DEFAULT_SOURCE_DIR


def check_source_dir(directory: str) -> None:
  missing = [name for pair in FILES.values() for name in pair
             if not os.path.exists(os.path.join(directory, name))]
  if missing:
    raise FileNotFoundError(
        f"Fashion-MNIST files {missing} not found in {directory}; "
        + INSTALL_HINT + ".")


def read_split(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  """(images [N, 28, 28] uint8, labels [N] uint8) of `split`, in file
  order: dataset index n is the n-th image of the file."""
  if split not in FILES:
    raise ValueError(f"Fashion-MNIST has no split {split!r}; it has "
                     f"{sorted(FILES)}.")
  images_path, labels_path = (os.path.join(directory, name)
                              for name in FILES[split])
  images = idx.read_idx(images_path)
  labels = idx.read_idx(labels_path)
  if images.ndim != 3 or images.shape[1:] != (28, 28):
    raise ValueError(f"{images_path} holds images of shape "
                     f"{images.shape[1:]}, expected (28, 28).")
  if labels.shape != (images.shape[0],):
    raise ValueError(f"{labels_path} has {labels.shape} labels for "
                     f"{images.shape[0]} images in {images_path}.")
  return images, labels


def device_splits(data_config) -> tuple[dict, tuple[str, ...]]:
  """The registry's `arrays` source: both splits as [N, 28, 28, 1] uint8."""
  directory = source_dir(data_config.manual_dir)
  check_source_dir(directory)
  splits = {}
  for name in FILES:
    images, labels = read_split(directory, name)
    splits[name] = registry.Split(images[..., None], labels.astype(np.int32))
  return splits, CLASS_NAMES


def tfds_manual_dir(builder, data_config) -> str:
  """The registry's `tfds_manual_dir`: the TFDS builder reads the idx files
  (Debian's, unless data.manual_dir names others)."""
  del builder
  directory = source_dir(data_config.manual_dir)
  check_source_dir(directory)
  return directory
