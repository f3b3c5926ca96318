"""Joining a multi-process (multi-host) run: `jax.distributed.initialize`
from SLURM, a TPU pod, or explicit variables, and the topology checks that
must pass before any work starts.

Explicit variables (any launcher): HCSC_COORDINATOR=<host:port>,
HCSC_NUM_PROCESSES=<n>, HCSC_PROCESS_ID=<i>. Under SLURM (SLURM_NTASKS > 1),
on TPU pods (more than one TPU_WORKER_HOSTNAMES entry) or with
HCSC_DISTRIBUTED=auto (set by launch/tpu_pod.sh), JAX's own cluster
detection fills them in. A single process initialises nothing.

`lead_first` runs one-time work (preparing a TFDS data set) on process 0
while the others wait for it.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from absl import logging
import jax

from hcsc_jax.errors import DataPreparationError
from hcsc_jax.errors import TopologyError
from hcsc_jax.runtime import process_env

def initialize_from_environment(env=None) -> bool:
  """Initialises jax.distributed when the environment describes several
  processes; returns whether it did. Call before anything touches JAX."""
  env = os.environ if env is None else env
  explicit = process_env.explicit_settings(env)
  heartbeat = process_env.heartbeat_timeout_s(env)
  if explicit is not None:
    if explicit["num_processes"] == 1:
      return False
    jax.distributed.initialize(**explicit,
                               heartbeat_timeout_seconds=heartbeat)
  elif process_env.cluster_detected(env):
    jax.distributed.initialize(heartbeat_timeout_seconds=heartbeat)
  else:
    return False
  check_topology()
  return True


def check_topology() -> None:
  """Every process must hold the same number of devices."""
  local = jax.local_device_count()
  total = jax.device_count()
  if total != local * jax.process_count():
    raise TopologyError(
        f"process {jax.process_index()} has {local} devices, but the "
        f"{jax.process_count()} processes hold {total} in all; give every "
        "process the same number of accelerators.")


def _key_value_client():
  """The coordination service's key-value store of a multi-process run."""
  from jax._src import distributed as jax_distributed  # pylint: disable=g-import-not-at-top
  return jax_distributed.global_state.client


def lead_first(work: Callable[[], None], what: str, key: str,
               poll_s: float = 30.0) -> None:
  """`work()` on the lead process only; the others wait until it is done
  (a log line every `poll_s` seconds) and then go on, so N hosts sharing a
  file system never do it twice or race on its files. When the lead fails,
  every other process ends with one line saying so."""
  if jax.process_count() == 1:
    work()
    return
  client = _key_value_client()
  done_key = f"hcsc_lead_first/{key}"
  if jax.process_index() == 0:
    try:
      work()
    except BaseException as e:
      client.key_value_set(done_key, f"failed: {' '.join(str(e).split())}"
                           [:500])
      raise
    client.key_value_set(done_key, "done")
    return
  started = time.time()
  while True:
    try:
      outcome = client.blocking_key_value_get(done_key, int(poll_s * 1000))
      break
    except Exception:  # pylint: disable=broad-except  (a timeout: still busy)
      logging.info("process %d: waiting for process 0 to finish %s "
                   "(%.0f min so far).", jax.process_index(), what,
                   (time.time() - started) / 60)
  if outcome != "done":
    raise DataPreparationError(
        f"process 0 could not finish {what} ({outcome}); fix that and "
        "rerun all processes.")
