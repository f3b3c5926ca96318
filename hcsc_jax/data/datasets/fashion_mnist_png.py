"""Fashion-MNIST's idx files written out as a folder of PNG images with
class subfolders and its own test split (`python -m
hcsc_jax.write_fashion_mnist_folder`), to try the image-folder path
offline on data whose idx-path results are known."""

from __future__ import annotations

import os


def write_png_folder(source: str | None, output: str, limit: int = 0) -> dict:
  """Writes the PNGs (skipping those already there); returns the count per
  split."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import tqdm  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  directory = fashion_mnist_files.source_dir(source)
  fashion_mnist_files.check_source_dir(directory)
  names = [n.replace("/", "-") for n in fashion_mnist_files.CLASS_NAMES]
  counts = {}
  for split in fashion_mnist_files.FILES:
    images, labels = fashion_mnist_files.read_split(directory, split)
    if limit:
      images, labels = images[:limit], labels[:limit]
    for name in names:
      os.makedirs(os.path.join(output, split, name), exist_ok=True)
    for i in tqdm.tqdm(range(len(labels)), desc=f"writing {split}",
                       mininterval=1.0, leave=False):
      path = os.path.join(output, split, names[int(labels[i])],
                          f"{i:05d}.png")
      if not os.path.exists(path):
        Image.fromarray(np.asarray(images[i], np.uint8)).save(path + ".tmp",
                                                              format="PNG")
        os.replace(path + ".tmp", path)
    counts[split] = int(len(labels))
  return counts
