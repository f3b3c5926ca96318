"""The device mesh and how arrays are laid out on it.

One mesh axis, `data`: batches are split over it, the train state is
replicated. Host batches become global arrays with
`jax.make_array_from_process_local_data`, so the same code runs on one CPU,
one GPU node and many processes.
"""

from __future__ import annotations

import collections
from typing import Any, Iterable, Iterator

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """All (or the given) devices on one `data` axis. Auto axis type: XLA's
  partitioner places the few collectives (BN-shuffle gather, queue write)."""
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices)


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def put_batch(batch: dict[str, np.ndarray], mesh) -> dict[str, jax.Array]:
  """This process's slice of a batch -> global arrays sharded on `data`."""
  sharding = batch_sharded(mesh)
  return {name: jax.make_array_from_process_local_data(sharding, value)
          for name, value in batch.items()}


def to_host(tree: Any) -> Any:
  """Fetches (replicated or sharded) arrays as NumPy on every process."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return multihost_utils.process_allgather(tree, tiled=True)


def prefetch_to_device(batches: Iterable[dict[str, np.ndarray]], mesh,
                       depth: int = 2) -> Iterator[dict[str, jax.Array]]:
  """Keeps `depth` batches' host-to-device copies in flight ahead of the
  consumer, so the copy of step n+1 overlaps the compute of step n."""
  queue = collections.deque()
  iterator = iter(batches)
  for batch in iterator:
    queue.append(put_batch(batch, mesh))
    if len(queue) > depth:
      yield queue.popleft()
  while queue:
    yield queue.popleft()
