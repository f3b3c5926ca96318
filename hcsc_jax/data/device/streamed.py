"""The stream input path of image folders too large for memory: the
decoded cache stays on disk (`file_rows.FileRows`), each batch's images
are gathered on the host a few steps ahead and copied to the devices, and
the step cuts and augments its views from them exactly as the in-memory
path does from its device arrays.

Batch order and augmentation draws are those of `in_memory.DeviceInput`
(the same permutation of the same seed and epoch, the same per-step keys),
so the two paths feed a step the same images and differ only in where the
gather runs. No TensorFlow.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import math
from typing import Iterator, Mapping

import jax
import numpy as np

from hcsc_jax.data.device import crop as device_crop
from hcsc_jax.data.device import views as device_views
from hcsc_jax.data.datasets.file_rows import FileRows
from hcsc_jax.data.specs import AugmentSpec, ViewSpec
from hcsc_jax.runtime import sharding

Array = jax.Array
GATHER_AHEAD = 4  # batches read from disk ahead of the step


def _ahead(reads, depth: int = GATHER_AHEAD) -> Iterator:
  """Runs the zero-argument callables `reads` in a background thread,
  `depth` ahead of the consumer, yielding their results in order."""
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    pending = collections.deque()
    for read in reads:
      pending.append(pool.submit(read))
      if len(pending) > depth:
        yield pending.popleft().result()
    while pending:
      yield pending.popleft().result()


def _replicated(mesh, arrays: dict[str, np.ndarray]) -> dict[str, Array]:
  """Host arrays on every device (each process holds all of them)."""
  placed = sharding.replicated(mesh)
  return {name: jax.make_array_from_callback(
      value.shape, placed, lambda index, v=value: v[index])
          for name, value in arrays.items()}


class StreamedInput:
  """Training batches gathered on the host from images on disk; the
  `in_memory.DeviceInput` interface (order, keys, `batch`), with the step
  receiving one batch's images instead of the whole split."""

  def __init__(self, order_source, images: FileRows, labels: np.ndarray,
               views: Mapping[str, ViewSpec], spec: AugmentSpec, mesh,
               with_labels: bool):
    """`order_source`: the in-memory path's DeviceInput of the same
    examples, whose order and keys (and steps per epoch) are used."""
    self.source, self.images, self.labels = order_source, images, labels
    self.views, self.spec, self.mesh = dict(views), spec, mesh
    self.with_labels = with_labels
    self.num_examples = order_source.num_examples
    self.steps_per_epoch = order_source.steps_per_epoch
    self.batch_size = order_source.batch_size

  def _batch_arrays(self, order: np.ndarray, key: np.ndarray,
                    step: int) -> dict[str, np.ndarray]:
    index = order[step * self.batch_size:(step + 1) * self.batch_size]
    out = {"images": self.images[index], "index": index, "key": key}
    if self.with_labels:
      out["labels"] = self.labels[index]
    return out

  def abstract_inputs(self) -> dict[str, Array]:
    order, key = self._epoch(0)
    return _replicated(self.mesh, self._batch_arrays(order, key, 0))

  def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    inputs = self.source.epoch_inputs(epoch)
    return np.asarray(inputs["order"]), np.asarray(inputs["key"])

  def step_inputs(self, epoch: int, start_step: int, steps: int
                  ) -> Iterator[dict[str, Array]]:
    order, key = self._epoch(epoch)
    reads = (functools.partial(self._batch_arrays, order, key, step)
             for step in range(start_step, start_step + steps))
    for arrays in _ahead(reads):
      yield _replicated(self.mesh, arrays)

  def batch(self, inputs: dict[str, Array], step: Array) -> dict[str, Array]:
    batch_sharded = sharding.batch_sharded(self.mesh)
    step_in_epoch = step % self.steps_per_epoch
    key = jax.random.fold_in(jax.random.wrap_key_data(inputs["key"]),
                             step_in_epoch)
    images = jax.lax.with_sharding_constraint(inputs["images"],
                                              batch_sharded)
    out = device_views.train_views(images, key, self.views, self.spec)
    out["index"] = jax.lax.with_sharding_constraint(inputs["index"],
                                                    batch_sharded)
    if self.with_labels:
      out["label"] = jax.lax.with_sharding_constraint(inputs["labels"],
                                                      batch_sharded)
    return out


def eval_batches(images: FileRows, labels: np.ndarray, global_batch: int,
                 mesh, resize: int, crop: int, spec: AugmentSpec
                 ) -> tuple[int, Iterator[dict[str, Array]]]:
  """(count, iterator) of eval-transformed batches ('image', 'label',
  'index', 'mask'; mask 0 on the last one's padding), each process
  reading its rows of every batch from disk a few batches ahead."""
  total = len(images)
  count = math.ceil(total / global_batch)
  height, width = images.shape[1:3]
  make = _eval_batch_fn(mesh, global_batch, height, width, resize, crop,
                        spec)

  local = global_batch // jax.process_count()  # this process's rows

  def read(i):
    start = i * global_batch + jax.process_index() * local
    index = np.arange(start, start + local, dtype=np.int32)
    safe = np.minimum(index, total - 1)
    return {"images": images[safe], "label": labels[safe].astype(np.int32),
            "index": index, "mask": index < total}

  def batches():
    for arrays in _ahead(functools.partial(read, i) for i in range(count)):
      yield make(sharding.put_batch(arrays, mesh))
  return count, batches()


@functools.lru_cache(maxsize=None)
def _eval_batch_fn(mesh, batch: int, height: int, width: int, resize: int,
                   crop: int, spec: AugmentSpec):
  del batch  # part of the cache key only
  rows, cols = device_crop.eval_matrices(height, width, resize, crop)

  def make(arrays):
    out = dict(arrays)
    out["image"] = device_views.eval_views(out.pop("images"), rows, cols,
                                           spec)
    return out

  return jax.jit(make, out_shardings=sharding.batch_sharded(mesh))
