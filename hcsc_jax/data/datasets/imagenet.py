"""ImageNet on the tf.data path: what preparing TFDS's `imagenet2012` and
`imagenet2012_subset` builders offline needs (the registry's
`tfds_manual_dir`). The official tar files are the user's; SimCLR's 1% and
10% subset lists ship with hcsc_jax (imagenet_subsets/), since TFDS would
try to download them."""

from __future__ import annotations

import gzip
import os

from absl import logging
import tensorflow as tf

SUBSET_LISTS = ("1percent.txt", "10percent.txt")
SHIPPED_LISTS = os.path.join(os.path.dirname(__file__), "imagenet_subsets")


def manual_dir(builder, data_config) -> str:
  """`data.manual_dir`, which must exist (it may be a gs:// path)."""
  folder = data_config.manual_dir
  if not (folder and tf.io.gfile.exists(folder)):
    raise FileNotFoundError(
        f"{builder.name} is not prepared in {builder.data_dir_root} and "
        f"config.data.manual_dir={folder!r} does not exist: download "
        "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar into a folder "
        "and pass --config.data.manual_dir=<folder>.")
  return folder


def manual_dir_with_subset_lists(builder, data_config) -> str:
  """A manual dir that holds SimCLR's subset lists: `data.manual_dir`
  itself when they are there, else a folder beside the prepared data with
  links to its files and the shipped lists."""
  folder = manual_dir(builder, data_config)
  if all(os.path.exists(os.path.join(folder, n)) for n in SUBSET_LISTS):
    return folder
  overlay = os.path.join(builder.data_dir_root, "manual_with_subset_lists")
  os.makedirs(overlay, exist_ok=True)
  for name in os.listdir(folder):
    link = os.path.join(overlay, name)
    if not os.path.lexists(link):
      os.symlink(os.path.abspath(os.path.join(folder, name)), link)
  for name in SUBSET_LISTS:
    target = os.path.join(overlay, name)
    if not os.path.exists(target):
      with gzip.open(os.path.join(SHIPPED_LISTS, name + ".gz"), "rb") as f:
        data = f.read()
      with open(target + ".tmp", "wb") as f:
        f.write(data)
      os.replace(target + ".tmp", target)
  logging.info("imagenet2012_subset: SimCLR's subset lists (shipped with "
               "hcsc_jax) beside links to %s in %s", folder, overlay)
  return overlay
