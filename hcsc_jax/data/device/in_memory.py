"""The in-memory input path (`data.pipeline="device"`): a small data set's
uint8 images are placed on the devices once, and every batch is made there.

A train step receives the epoch's example order (a permutation drawn from
the run's seed and the epoch) and the epoch's key; it slices its indices by
its step number, gathers the images and cuts and augments the views
(`device_views`). Batch order and augmentation are pure functions of seed
and step, so a resumed run repeats them exactly, and nothing runs on the
host between steps. Evaluation batches (embedding for clustering, kNN,
classifier accuracy) come from the same arrays.

No TensorFlow anywhere on this path: data are read straight from their
files (Fashion-MNIST: the idx files of Debian's `dataset-fashion-mnist`).
"""

from __future__ import annotations

import functools
import math
from typing import Iterator, Mapping

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.data.device import crop as device_crop
from hcsc_jax.data.device import views as device_views
from hcsc_jax.data.datasets import registry
from hcsc_jax.data import specs
from hcsc_jax.data.device import streamed
from hcsc_jax.data.datasets.file_rows import FileRows
from hcsc_jax.data.specs import AugmentSpec, ViewSpec
from hcsc_jax.errors import ConfigError
from hcsc_jax.runtime import sharding

Array = jax.Array
_ORDER_TAG = 0x6F726472   # "ordr"
_VIEWS_TAG = 0x76696577   # "view"




def epoch_key(seed: int, epoch: int, tag: int = _VIEWS_TAG) -> np.ndarray:
  """Raw key data of one epoch's draws (host side, tiny)."""
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), tag),
                           epoch)
  return np.asarray(jax.random.key_data(key))


class InMemoryDataset:
  """A data set held as arrays; implements the `sources.Dataset` calls."""

  has_images = True
  has_labels = True
  feature_names = ("image", "label")

  def __init__(self, data_config, loaded=None):
    """`loaded`: (splits, class_names) given directly (arrays decoded by
    the caller, e.g. files to embed) instead of data_config's loader."""
    self.name = data_config.name
    arrays = registry.source(self.name).arrays
    if loaded is None and arrays is None:
      raise ConfigError(
          f"data.pipeline='device' reads {registry.device_names()} from their "
          "files; "
          f"data.name={self.name!r} goes through tf.data "
          "(--config.data.pipeline=tfdata).")
    self.data_config = data_config
    given = loaded is not None
    if not given:
      loaded = registry.resolve(arrays)(data_config)
    self.splits, self.class_names = loaded[0], loaded[1]
    self.folder = loaded[2] if len(loaded) > 2 else None  # image folders
    self.num_classes = len(self.class_names)
    self.has_labels = bool(self.class_names)
    for field in ("train_split", "eval_split") if not given else ():
      split = data_config.get(field)
      if (split and split not in self.splits and self.folder is not None
          and field == "eval_split"):
        continue  # no held-out images: evaluations are skipped (has_split)
      if split and split not in self.splits:
        raise ConfigError(
            f"data.{field}={split!r}: {self.name} has the splits "
            f"{sorted(self.splits)} (the device path takes whole splits).")
    if self.folder is not None and not tuple(data_config.mean):
      from hcsc_jax.data.datasets import folder_defaults  # pylint: disable=g-import-not-at-top
      mean, std = folder_defaults.mean_std(
          self.splits[data_config.train_split].images)
      data_config.mean, data_config.std = mean, std
      logging.info("data.mean=%s and data.std=%s measured on the folder's "
                   "training images.", mean, std)
    self.spec = AugmentSpec(mean=tuple(data_config.mean),
                            std=tuple(data_config.std))
    self._on_device: dict[tuple, dict[str, Array]] = {}

  def streamed(self, split: str) -> bool:
    """Whether `split` stays on disk (the stream path of big folders)."""
    return isinstance(self.splits[split].images, FileRows)

  def has_split(self, split: str) -> bool:
    return split in self.splits

  def num_examples(self, split: str) -> int:
    return int(self.splits[split].labels.shape[0])

  def labels(self, split: str) -> np.ndarray:
    return self.splits[split].labels

  def device_arrays(self, split: str, mesh) -> dict[str, Array]:
    """{'images', 'labels'} of `split`, replicated on the mesh (placed
    once; every process holds the whole split)."""
    key = (split, id(mesh))
    if key not in self._on_device:
      replicated = sharding.replicated(mesh)
      self._on_device[key] = {
          name: jax.make_array_from_callback(
              value.shape, replicated, lambda index, v=value: v[index])
          for name, value in (("images", self.splits[split].images),
                              ("labels", self.splits[split].labels))}
    return self._on_device[key]

  def eval_batches(self, split: str, global_batch: int, mesh
                   ) -> tuple[int, Iterator[dict[str, Array]]]:
    """(count, iterator) of eval-transformed batches on the devices:
    'image', 'label', 'index', 'mask' (0 on the padding of the last)."""
    if self.streamed(split):
      return streamed.eval_batches(
          self.splits[split].images, self.splits[split].labels, global_batch,
          mesh, self.data_config.eval_resize, self.data_config.image_size,
          self.spec)
    arrays = self.device_arrays(split, mesh)
    total = self.num_examples(split)
    count = math.ceil(total / global_batch)
    height, width = self.splits[split].images.shape[1:3]
    make = _eval_batch_fn(mesh, global_batch, total, height, width,
                          self.data_config.eval_resize,
                          self.data_config.image_size, self.spec)
    return count, (make(arrays, np.int32(i * global_batch))
                   for i in range(count))

  def _order_arrays(self, split: str, mesh) -> dict:
    """What DeviceInput reads: the split on the devices, or, when it
    stays on disk, only its labels (the order is all it is used for)."""
    if not self.streamed(split):
      return self.device_arrays(split, mesh)
    return {"labels": self.splits[split].labels}

  def _input(self, split: str, order_source: "DeviceInput",
             views, spec, mesh, with_labels: bool):
    if not self.streamed(split):
      return order_source
    return streamed.StreamedInput(
        order_source, self.splits[split].images, self.splits[split].labels,
        views, spec, mesh, with_labels)

  def pretrain_input(self, spec: specs.PretrainInputSpec, mesh):
    split = self.data_config.train_split
    source = DeviceInput(
        self._order_arrays(split, mesh), None, spec.batch_size, spec.seed,
        spec.view_specs, spec.augment, mesh, spec.max_steps_per_epoch,
        with_labels=False)
    return self._input(split, source, spec.view_specs, spec.augment, mesh,
                       with_labels=False)

  def classifier_input(self, data_config, batch_size: int, seed: int,
                       scale, flip_prob: float, subset, mesh
                       ) -> "DeviceInput":
    spec = AugmentSpec(jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0,
                       flip_prob=flip_prob, mean=tuple(data_config.mean),
                       std=tuple(data_config.std))
    views = {"image": ViewSpec(data_config.image_size, tuple(scale))}
    split = data_config.train_split
    source = DeviceInput(self._order_arrays(split, mesh), subset, batch_size,
                         seed, views, spec, mesh, None, with_labels=True)
    return self._input(split, source, views, spec, mesh, with_labels=True)


@functools.lru_cache(maxsize=None)
def _eval_batch_fn(mesh, batch: int, total: int, height: int, width: int,
                   resize: int, crop: int, spec: AugmentSpec):
  rows, cols = device_crop.eval_matrices(height, width, resize, crop)
  batch_sharded = sharding.batch_sharded(mesh)

  def make(arrays, start):
    index = start + jnp.arange(batch, dtype=jnp.int32)
    index = jax.lax.with_sharding_constraint(index, batch_sharded)
    safe = jnp.minimum(index, total - 1)
    images = device_views.eval_views(arrays["images"][safe], rows, cols,
                                     spec)
    return {"image": images, "label": arrays["labels"][safe],
            "index": index, "mask": index < total}

  return jax.jit(make, out_shardings=batch_sharded)


class DeviceInput:
  """Training batches made inside the jitted step from device arrays.

  `epoch_inputs(epoch)` is what the step receives (the arrays, the epoch's
  order and key); `batch(inputs, step)` is traced inside the step and
  returns the views (and 'index', and 'label' for classifiers) of global
  step `step`. An epoch takes `steps_per_epoch` whole batches of the order.
  """

  def __init__(self, arrays: dict[str, Array], subset, batch_size: int,
               seed: int, views: Mapping[str, ViewSpec], spec: AugmentSpec,
               mesh, max_steps: int | None, with_labels: bool):
    self.arrays = arrays
    self.members = (None if subset is None
                    else np.asarray(subset, np.int32))
    self.num_examples = (int(arrays["labels"].shape[0])
                         if self.members is None else len(self.members))
    self.batch_size, self.seed = batch_size, seed
    self.views, self.spec, self.mesh = dict(views), spec, mesh
    self.with_labels = with_labels
    self.steps_per_epoch = self.num_examples // batch_size
    if max_steps:
      self.steps_per_epoch = min(self.steps_per_epoch, max_steps)
    if self.steps_per_epoch < 1:
      raise ConfigError(
          f"the training set has {self.num_examples} examples, fewer than "
          f"one batch of {batch_size}; lower the batch size.")
    replicated = sharding.replicated(mesh)
    members = (None if self.members is None else
               jax.device_put(self.members, replicated))
    count = self.num_examples

    def order(key_data):
      permutation = jax.random.permutation(
          jax.random.wrap_key_data(key_data), count).astype(jnp.int32)
      return permutation if members is None else members[permutation]
    self._order = jax.jit(order, out_shardings=replicated)

  def epoch_inputs(self, epoch: int) -> dict[str, Array]:
    replicated = sharding.replicated(self.mesh)
    return {**self.arrays,
            "order": self._order(epoch_key(self.seed, epoch, _ORDER_TAG)),
            "key": jax.device_put(epoch_key(self.seed, epoch), replicated)}

  def abstract_inputs(self) -> dict[str, Array]:
    """What a train step receives (to compile it ahead of time)."""
    return self.epoch_inputs(0)

  def step_inputs(self, epoch: int, start_step: int, steps: int
                  ) -> Iterator[dict[str, Array]]:
    """What each of `steps` train steps of `epoch` receives."""
    del start_step  # the step reads its position off its own counter
    inputs = self.epoch_inputs(epoch)
    return (inputs for _ in range(steps))

  def batch(self, inputs: dict[str, Array], step: Array) -> dict[str, Array]:
    step_in_epoch = step % self.steps_per_epoch
    index = jax.lax.dynamic_slice(inputs["order"],
                                  (step_in_epoch * self.batch_size,),
                                  (self.batch_size,))
    index = jax.lax.with_sharding_constraint(
        index, sharding.batch_sharded(self.mesh))
    key = jax.random.fold_in(jax.random.wrap_key_data(inputs["key"]),
                             step_in_epoch)
    out = device_views.train_views(inputs["images"][index], key, self.views,
                                   self.spec)
    out["index"] = index
    if self.with_labels:
      out["label"] = inputs["labels"][index]
    return out
