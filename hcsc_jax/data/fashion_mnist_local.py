"""Fashion-MNIST as a real on-disk TFDS dataset, built from local idx files.

Debian's `dataset-fashion-mnist` package installs the original idx files under
/usr/share/datasets/fashion-mnist; this builder turns them into TFDS records
without touching the network. Examples keep the order of the idx files
(`disable_shuffling`), so dataset index n is the n-th image of the file.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import tensorflow_datasets as tfds

DEFAULT_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
INSTALL_HINT = ("install them with `apt-get install dataset-fashion-mnist` "
                "or point config.data.source_dir at a folder holding "
                + ", ".join(sum(FILES.values(), ())))


def read_idx(path: str) -> np.ndarray:
  """Reads a (gzipped) idx file of unsigned bytes into an array."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise ValueError(f"{path} is not an idx file of unsigned bytes.")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
                for i in range(ndim))
  payload = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if payload.size != int(np.prod(shape)):
    raise ValueError(f"{path} is truncated: header says {shape}, found "
                     f"{payload.size} bytes of data.")
  return payload.reshape(shape)


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes a gzipped idx file (used by tests to make tiny sources)."""
  array = np.asarray(array, np.uint8)
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
      int(n).to_bytes(4, "big") for n in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.tobytes())


def check_source_dir(source_dir: str) -> None:
  missing = [name for pair in FILES.values() for name in pair
             if not os.path.exists(os.path.join(source_dir, name))]
  if missing:
    raise FileNotFoundError(
        f"Fashion-MNIST files {missing} not found in {source_dir}; "
        + INSTALL_HINT + ".")


class FashionMnistLocal(tfds.core.GeneratorBasedBuilder):
  """Fashion-MNIST (28x28 grayscale, 10 classes) from local idx files."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Built from the original idx files."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = INSTALL_HINT

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
        }),
        supervised_keys=("image", "label"),
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    source_dir = os.fspath(dl_manager.manual_dir)
    check_source_dir(source_dir)
    return {split: self._generate_examples(
        os.path.join(source_dir, images), os.path.join(source_dir, labels))
            for split, (images, labels) in FILES.items()}

  def _generate_examples(self, images_path, labels_path):
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
      raise ValueError(f"{images_path} holds images of shape "
                       f"{images.shape[1:]}, expected (28, 28).")
    if labels.shape != (images.shape[0],):
      raise ValueError(f"{labels_path} has {labels.shape} labels for "
                       f"{images.shape[0]} images in {images_path}.")
    for index in range(images.shape[0]):
      yield index, {"image": images[index][..., None],
                    "label": int(labels[index])}
