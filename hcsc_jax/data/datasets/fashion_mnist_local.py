"""Fashion-MNIST as a real on-disk TFDS dataset, built from local idx files.

Debian's `dataset-fashion-mnist` package installs the original idx files under
/usr/share/datasets/fashion-mnist; this builder turns them into TFDS records
without touching the network. Examples keep the order of the idx files
(`disable_shuffling`), so dataset index n is the n-th image of the file.
The in-memory device path reads the same files directly
(`fashion_mnist_files`), with the same indices.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds

from hcsc_jax.data.datasets import fashion_mnist_files as files


class FashionMnistLocal(tfds.core.GeneratorBasedBuilder):
  """Fashion-MNIST (28x28 grayscale, 10 classes) from local idx files."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Built from the original idx files."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = files.INSTALL_HINT

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(names=list(files.CLASS_NAMES)),
        }),
        supervised_keys=("image", "label"),
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    source_dir = os.fspath(dl_manager.manual_dir)
    files.check_source_dir(source_dir)
    return {split: self._generate_examples(source_dir, split)
            for split in files.FILES}

  def _generate_examples(self, source_dir, split):
    images, labels = files.read_split(source_dir, split)
    for index in range(images.shape[0]):
      yield index, {"image": images[index][..., None],
                    "label": int(labels[index])}
