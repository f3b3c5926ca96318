"""TFDS + tf.data pipelines: training views with dataset indices, and eval
batches padded to the same count on every process.

The dataset index of an example is its position in the split's stored order
(read without file shuffling), so it is stable across epochs, processes and
restarts; each process reads a contiguous slice of the split and knows the
slice's offset.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import os
from typing import Iterator

import jax
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from hcsc_jax.data.datasets import registry
from hcsc_jax.data.tfdata import augment
from hcsc_jax.data.tfdata import decode
from hcsc_jax.data import specs
from hcsc_jax.errors import ConfigError
from hcsc_jax.errors import DataPreparationError
from hcsc_jax.runtime import distributed
from hcsc_jax.runtime import sharding


def hide_accelerators_from_tf() -> None:
  """TF only feeds data; leave every GPU/TPU to JAX."""
  for kind in ("GPU", "TPU"):
    try:
      tf.config.set_visible_devices([], kind)
    except (RuntimeError, ValueError):
      pass


def load_builder(data_config) -> tfds.core.DatasetBuilder:
  """The prepared TFDS builder of `data_config.name`, preparing it if needed.

  Fashion-MNIST is built from Debian's idx files (no network); ImageNet needs
  its tar files in `data_config.manual_dir`.
  """
  name = data_config.name
  registry.register_tfds_builder(name)
  try:
    builder = tfds.builder(name, data_dir=data_config.data_dir)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise ConfigError(
        f"config.data.name={name!r} is not a TFDS dataset ({e}).") from None
  except ValueError as e:  # e.g. a builder config (subset) that is unknown
    detail = " ".join(str(e).split())  # TFDS lists the configs on lines
    raise ConfigError(f"config.data.name={name!r}: {detail}") from None
  if not _is_prepared(builder):
    distributed.lead_first(lambda: _prepare(builder, data_config),
                           f"preparing {name} in {builder.data_dir_root}",
                           key=f"prepare/{name}")
    if not _is_prepared(builder):  # prepared by process 0: read its info
      builder = tfds.builder(name, data_dir=data_config.data_dir)
  for split in (data_config.train_split, data_config.eval_split):
    if split and split.split("[")[0] not in builder.info.splits:
      raise ConfigError(
          f"data set {name} has no split {split!r}; it has "
          f"{sorted(builder.info.splits)}.")
  return builder


def _is_prepared(builder) -> bool:
  try:
    return bool(builder.info.splits) and tf.io.gfile.exists(builder.data_dir)
  except Exception:  # pylint: disable=broad-except
    return False


def _prepare(builder, data_config) -> None:
  manual_dir = data_config.manual_dir
  how = registry.source(builder.name).tfds_manual_dir
  if how:
    manual_dir = registry.resolve(how)(builder, data_config)
  try:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  except (OSError, ConnectionError, tf.errors.OpError) as e:
    raise DataPreparationError(
        f"could not prepare {builder.name} in {builder.data_dir_root}: "
        f"{type(e).__name__}: {' '.join(str(e).split())[:300]}. If it had to "
        "download, this machine may be offline: prepare it where there is "
        "a network and pass --config.data.data_dir, or give its files with "
        "--config.data.manual_dir.") from None


def num_examples(builder, split: str) -> int:
  return int(builder.info.splits[split].num_examples)


def process_slice(total: int, process_index: int,
                  process_count: int) -> tuple[int, int]:
  """Contiguous [start, end) of the examples read by one process."""
  return (total * process_index // process_count,
          total * (process_index + 1) // process_count)


def _encoded_with_indices(builder, split, start, end, keep_labels=False):
  """Examples of split[start:end] with their dataset index, images still
  encoded: shuffle buffers hold bytes (a JPEG is ~5x smaller than its
  pixels), and an example skipped on resume is never decoded. Decoding
  happens in the per-example transform after shuffling; an image that
  fails to decode is dropped there (with a warning) without shifting
  anyone's index, and callers count what is missing."""
  ds = builder.as_dataset(split=f"{split}[{start}:{end}]",
                          shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()})

  def number(index, example):
    out = {"image": example["image"], "index": tf.cast(index, tf.int32)}
    if keep_labels:
      out["label"] = tf.cast(example["label"], tf.int32)
    return out

  return ds.enumerate(start).map(number)


def _channels(builder) -> int:
  return builder.info.features["image"].shape[-1] or 3


def num_shards(data_config, process_count: int) -> int:
  """Data shards of a run: `data.num_shards`, or one per process.

  The data order depends only on the shard count (each shard is a
  contiguous slice of the split with its own shuffle and 1/shards of every
  global batch), so runs with the same `num_shards` see identical global
  batches whatever the number of processes.
  """
  return int(data_config.num_shards or process_count)


@dataclasses.dataclass
class TrainData:
  """Per-epoch iterators over augmented views of this process's shards."""
  builder: tfds.core.DatasetBuilder
  data_config: object  # the run's `data` block
  spec: specs.PretrainInputSpec
  process_index: int = 0
  process_count: int = 1
  mesh: object = None  # where `step_inputs` puts the batches
  batch = None  # the step receives finished batches (sources.Dataset)

  def __post_init__(self):
    data, batch_size = self.data_config, self.spec.batch_size
    self.num_examples = num_examples(self.builder, data.train_split)
    shards = num_shards(data, self.process_count)
    if shards % self.process_count or batch_size % shards:
      raise ConfigError(
          f"data.num_shards={shards} must be a multiple of the "
          f"{self.process_count} processes and divide batch_size="
          f"{batch_size}.")
    per_process = shards // self.process_count
    mine = range(self.process_index * per_process,
                 (self.process_index + 1) * per_process)
    self.slices = [process_slice(self.num_examples, s, shards) for s in mine]
    self.start, self.end = self.slices[0][0], self.slices[-1][1]
    self.local_batch = batch_size // self.process_count
    self.shard_batch = batch_size // shards
    self.steps_per_epoch = self.num_examples // batch_size
    if self.spec.max_steps_per_epoch:
      self.steps_per_epoch = min(self.steps_per_epoch,
                                 self.spec.max_steps_per_epoch)
    self._bases = []
    for start, end in self.slices:
      base = _encoded_with_indices(self.builder, data.train_split, start,
                                   end)
      self._bases.append(base.cache() if data.cache else base)

  def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict]:
    """Batches of `epoch` from step `start_step` on, as NumPy dicts with
    'query', 'key', 'local_<i>' views and the dataset 'index'."""
    seed, spec = self.spec.seed, self.spec.augment
    names = list(self.spec.view_specs)
    view_specs = list(self.spec.view_specs.values())
    channels = _channels(self.builder)
    on_device = self.spec.augment_on_device

    def views(example):
      base = augment.example_seed(seed, epoch, example["index"])
      seeds = tf.random.experimental.stateless_split(base, len(names))
      if on_device:  # uint8 crops; jitter/gray/blur/flip run in the step
        crops = decode.train_crops(example["image"], tf.unstack(seeds),
                                   view_specs, channels)
      else:  # float32 views augmented here
        image = decode.full_image(example["image"], channels)
        crops = [augment.train_view(image, seeds[i], view, spec)
                 for i, view in enumerate(view_specs)]
      return dict(zip(names, crops), index=example["index"])

    parts = [_epoch_dataset(base, views, seed, epoch,
                            min(end - start, self.data_config.shuffle_buffer),
                            self.steps_per_epoch, self.shard_batch,
                            start_step)
             for base, (start, end) in zip(self._bases, self.slices)]
    ds = parts[0]
    if len(parts) > 1:  # this process's part of each global batch
      ds = tf.data.Dataset.zip(tuple(parts)).map(
          lambda *batches: {key: tf.concat([b[key] for b in batches], 0)
                            for key in batches[0]})
    return _as_numpy(ds, self.data_config)

  def abstract_inputs(self) -> dict:
    """Shapes, dtypes and shardings of what a train step receives (to
    compile the step ahead of its first batch)."""
    batch = self.spec.batch_size
    dtype = np.uint8 if self.spec.augment_on_device else np.float32
    placed = sharding.batch_sharded(self.mesh)
    out = {name: jax.ShapeDtypeStruct((batch, view.size, view.size, 3),
                                      dtype, sharding=placed)
           for name, view in self.spec.view_specs.items()}
    out["index"] = jax.ShapeDtypeStruct((batch,), np.int32, sharding=placed)
    return out

  def step_inputs(self, epoch: int, start_step: int, steps: int
                  ) -> Iterator[dict]:
    return _on_devices(self.epoch(epoch, start_step), steps, self.mesh,
                       self.data_config)


def _on_devices(batches: Iterator[dict], steps: int, mesh, data_config
                ) -> Iterator[dict]:
  """The first `steps` of `batches`, copied to the devices
  `data.device_prefetch` batches ahead of use."""
  return sharding.prefetch_to_device(itertools.islice(batches, steps), mesh,
                                     data_config.device_prefetch)


def _epoch_dataset(ds, transform, seed: int, epoch: int, buffer: int,
                   steps: int, batch: int, start_step: int) -> tf.data.Dataset:
  """Shuffles `ds` with the epoch's seed, keeps `steps` whole batches, skips
  the first `start_step` of them, then applies the (stateless, per-example)
  `transform`, so skipped examples are never augmented."""
  shuffle_seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
  ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
  ds = ds.take(steps * batch)
  ds = ds.skip(start_step * batch)
  ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.ignore_errors(log_warning=True)  # undecodable images
  return ds.batch(batch, drop_remainder=True)


def _as_numpy(ds, data_config) -> Iterator[dict]:
  ds = ds.prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  options.threading.private_threadpool_size = data_config.threads
  return tfds.as_numpy(ds.with_options(options))


@dataclasses.dataclass
class LabelledTrainData:
  """Per-epoch batches of one augmented view plus its label, for training
  classifiers (linear probe, semi-supervised fine-tuning): RandomResizedCrop
  and flip, optionally restricted to the dataset indices in `subset`."""
  builder: tfds.core.DatasetBuilder
  data_config: object
  batch_size: int
  seed: int
  scale: tuple[float, float] = (0.08, 1.0)
  flip_prob: float = 0.5
  subset: np.ndarray | None = None
  process_index: int = 0
  process_count: int = 1
  mesh: object = None
  batch = None  # the step receives finished batches (sources.Dataset)

  def __post_init__(self):
    data = self.data_config
    total = num_examples(self.builder, data.train_split)
    self.start, self.end = process_slice(total, self.process_index,
                                         self.process_count)
    base = _encoded_with_indices(self.builder, data.train_split, self.start,
                                 self.end, keep_labels=True)
    member = np.ones(total, bool)
    if self.subset is not None:
      member = np.zeros(total, bool)
      member[self.subset] = True
      table = tf.constant(member)
      base = base.filter(lambda ex: tf.gather(table, ex["index"]))
    if data.cache:
      base = base.cache()
    self._base = base
    self.num_examples = int(member[self.start:self.end].sum())
    self.local_batch = self.batch_size // self.process_count
    # Every process must run the same number of steps.
    smallest = min(int(member[a:b].sum()) for a, b in (
        process_slice(total, i, self.process_count)
        for i in range(self.process_count)))
    self.steps_per_epoch = smallest // self.local_batch
    if self.steps_per_epoch < 1:
      raise ConfigError(
          f"the training set has {int(member.sum())} examples, fewer than "
          f"one batch of {self.batch_size}; lower the batch size "
          "(classifier.batch_size).")
    self.view = augment.ViewSpec(data.image_size, tuple(self.scale))
    self.spec = augment.AugmentSpec(
        jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0,
        flip_prob=self.flip_prob, mean=tuple(data.mean), std=tuple(data.std))

  def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict]:
    """Batches of 'image', 'label', 'index' (NumPy) from `start_step` on."""
    seed, view, spec = self.seed, self.view, self.spec
    channels = _channels(self.builder)

    def transform(example):
      image = decode.full_image(example["image"], channels)
      image_seed = augment.example_seed(seed, epoch, example["index"])
      return {"image": augment.train_view(image, image_seed, view, spec),
              "label": example["label"], "index": example["index"]}

    buffer = max(1, min(self.num_examples,
                        self.data_config.shuffle_buffer))
    return _as_numpy(_epoch_dataset(self._base, transform, seed, epoch,
                                    buffer, self.steps_per_epoch,
                                    self.local_batch, start_step),
                     self.data_config)

  def step_inputs(self, epoch: int, start_step: int, steps: int
                  ) -> Iterator[dict]:
    return _on_devices(self.epoch(epoch, start_step), steps, self.mesh,
                       self.data_config)


def eval_batches(builder, data_config, split: str, global_batch: int,
                 process_index: int = 0, process_count: int = 1
                 ) -> tuple[int, Iterator[dict]]:
  """(number of batches, iterator) of eval-transformed examples.

  Every process yields the same number of batches of `global_batch //
  process_count` rows; rows past the end of its slice are padding with
  mask 0. Dicts hold 'image', 'label', 'index', 'mask'.
  """
  total = num_examples(builder, split)
  start, end = process_slice(total, process_index, process_count)
  local_batch = global_batch // process_count
  largest = max(b - a for a, b in (process_slice(total, i, process_count)
                                   for i in range(process_count)))
  count = math.ceil(largest / local_batch)
  channels = _channels(builder)

  def transform(example):
    image = decode.eval_crop(example["image"], data_config.eval_resize,
                             data_config.image_size, channels)
    return {"image": image, "label": example["label"],
            "index": example["index"]}

  has_labels = "label" in builder.info.features
  ds = _encoded_with_indices(builder, split, start, end,
                             keep_labels=has_labels)
  if not has_labels:
    ds = ds.map(lambda ex: dict(ex, label=tf.constant(-1, tf.int32)))
  ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.ignore_errors(log_warning=True)  # undecodable images
  ds = ds.batch(local_batch).prefetch(tf.data.AUTOTUNE)

  def padded():
    produced = 0
    for batch in tfds.as_numpy(ds):
      produced += 1
      yield _pad(batch, local_batch)
    template = None
    while produced < count:
      if template is None:
        size = data_config.image_size
        template = {"image": np.zeros((0, size, size, 3), np.uint8),
                    "label": np.zeros((0,), np.int32),
                    "index": np.zeros((0,), np.int32)}
      produced += 1
      yield _pad(template, local_batch)

  return count, padded()


def _pad(batch: dict, size: int) -> dict:
  rows = batch["index"].shape[0]
  out = {}
  for key, value in batch.items():
    pad = np.zeros((size - rows,) + value.shape[1:], value.dtype)
    out[key] = np.concatenate([value, pad]) if rows < size else value
  out["mask"] = np.arange(size) < rows
  return out


@functools.lru_cache(maxsize=None)
def _device_normaliser(mesh, spec):
  from hcsc_jax.data import device_augment  # pylint: disable=g-import-not-at-top
  placed = sharding.batch_sharded(mesh)
  return jax.jit(lambda images: device_augment.normalise(
      images.astype(np.float32) / 255.0, spec), in_shardings=placed,
                 out_shardings=placed)


class TFDSDataset:
  """A TFDS data set read by tf.data (`sources.Dataset` for
  `data.pipeline="tfdata"`)."""

  def __init__(self, data_config):
    self.data_config = data_config
    self.builder = load_builder(data_config)
    self.name = self.builder.name
    features = self.builder.info.features
    self.feature_names = tuple(sorted(features))
    self.has_images = "image" in features
    self.has_labels = "label" in features
    self.num_classes = (features["label"].num_classes if self.has_labels
                        else None)

  def num_examples(self, split: str) -> int:
    return num_examples(self.builder, split)

  def labels(self, split: str) -> np.ndarray:
    """Labels of `split` in stored order, without decoding any image."""
    decoders = {name: tfds.decode.SkipDecoding()
                for name in self.feature_names if name != "label"}
    ds = self.builder.as_dataset(split=split, shuffle_files=False,
                                 decoders=decoders)
    return np.fromiter((int(ex["label"]) for ex in tfds.as_numpy(ds)),
                       np.int64)

  def eval_batches(self, split: str, global_batch: int, mesh):
    """Eval batches on the devices, normalised there (uint8 over the
    host-to-device link, 4x fewer bytes than float32)."""
    count, batches = eval_batches(self.builder, self.data_config, split,
                                  global_batch, jax.process_index(),
                                  jax.process_count())
    spec = specs.AugmentSpec(mean=tuple(self.data_config.mean),
                             std=tuple(self.data_config.std))
    normalise = _device_normaliser(mesh, spec)

    def placed():
      for batch in batches:
        device = sharding.put_batch(batch, mesh)
        device["image"] = normalise(device["image"])
        yield device
    return count, placed()

  def pretrain_input(self, spec: specs.PretrainInputSpec, mesh
                     ) -> TrainData:
    return TrainData(self.builder, self.data_config, spec,
                     jax.process_index(), jax.process_count(), mesh)

  def classifier_input(self, data_config, batch_size: int, seed: int,
                       scale, flip_prob: float, subset, mesh
                       ) -> LabelledTrainData:
    return LabelledTrainData(
        self.builder, data_config, batch_size, seed, scale=tuple(scale),
        flip_prob=flip_prob, subset=subset,
        process_index=jax.process_index(),
        process_count=jax.process_count(), mesh=mesh)
