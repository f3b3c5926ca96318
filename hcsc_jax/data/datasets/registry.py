"""The one registry from a data set's name (`config.data.name`) to where its
examples come from, on each input path it supports.

A new source is one module in this package plus one entry here. Entries name
functions as "module:function" and are imported only when used, so the
registry itself imports neither TensorFlow nor image decoders.

- `arrays` (the device path): `fn(data_config) -> (splits, class_names)` or
  `(splits, class_names, loaded_folder)`, where `splits` maps a split's name
  to a `Split` of uint8 images and labels.
- `tfds_module` (the tf.data path): a module whose import registers a TFDS
  builder of this name (a builder that is not in the TFDS catalogue).
- `tfds_manual_dir` (the tf.data path): `fn(builder, data_config) ->
  manual_dir`, checking what preparing the builder offline needs and
  returning the folder TFDS prepares it from.

A name that is not registered is a TFDS catalogue name, read by tf.data.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

import numpy as np

_DATASETS = "hcsc_jax.data.datasets."


@dataclasses.dataclass(frozen=True)
class Split:
  images: np.ndarray   # [N, H, W, C] uint8 (a FileRows: stays on disk)
  labels: np.ndarray   # [N] int32


@dataclasses.dataclass(frozen=True)
class Source:
  arrays: str | None = None
  tfds_module: str | None = None
  tfds_manual_dir: str | None = None


SOURCES: dict[str, Source] = {
    "fashion_mnist_local": Source(
        arrays="fashion_mnist_files:device_splits",
        tfds_module="fashion_mnist_local",
        tfds_manual_dir="fashion_mnist_files:tfds_manual_dir"),
    "image_folder": Source(arrays="image_folder:device_splits"),
    "imagenet2012": Source(tfds_manual_dir="imagenet:manual_dir"),
    "imagenet2012_subset": Source(
        tfds_manual_dir="imagenet:manual_dir_with_subset_lists"),
}


def source(name: str) -> Source:
  """The registered source of `name` (a builder config such as
  `imagenet2012_subset/1pct` is its builder's); TFDS's other ImageNet
  builders (`imagenet2012_real`, ...) need the same tar files as
  `imagenet2012`; any other name is a TFDS catalogue name: an empty
  source."""
  builder = name.split("/")[0]
  if builder in SOURCES:
    return SOURCES[builder]
  if builder.startswith("imagenet2012"):
    return SOURCES["imagenet2012"]
  return Source()


def device_names() -> list[str]:
  """The data sets the device path can hold."""
  return sorted(name for name, s in SOURCES.items() if s.arrays)


def resolve(reference: str) -> Callable:
  """The function a "module:function" entry names."""
  module, function = reference.split(":")
  return getattr(importlib.import_module(_DATASETS + module), function)


def register_tfds_builder(name: str) -> None:
  """Imports the module that registers `name`'s local TFDS builder, if any."""
  module = source(name).tfds_module
  if module:
    importlib.import_module(_DATASETS + module)
