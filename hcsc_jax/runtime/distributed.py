"""Joining a multi-process (multi-host) run: `jax.distributed.initialize`
from SLURM, a TPU pod, or explicit variables, and the topology checks that
must pass before any work starts.

Explicit variables (any launcher): HCSC_COORDINATOR=<host:port>,
HCSC_NUM_PROCESSES=<n>, HCSC_PROCESS_ID=<i>. Under SLURM (SLURM_NTASKS > 1),
on TPU pods (more than one TPU_WORKER_HOSTNAMES entry) or with
HCSC_DISTRIBUTED=auto (set by launch/tpu_pod.sh), JAX's own cluster
detection fills them in. A single process initialises nothing.
"""

from __future__ import annotations

import os

import jax

from hcsc_jax.errors import TopologyError

ENV_COORDINATOR = "HCSC_COORDINATOR"
ENV_NUM_PROCESSES = "HCSC_NUM_PROCESSES"
ENV_PROCESS_ID = "HCSC_PROCESS_ID"


def _explicit_settings(env) -> dict | None:
  names = (ENV_COORDINATOR, ENV_NUM_PROCESSES, ENV_PROCESS_ID)
  given = {name: env.get(name) for name in names if env.get(name)}
  if not given:
    return None
  missing = [name for name in names if name not in given]
  if missing:
    raise TopologyError(
        f"{', '.join(sorted(given))} set but {', '.join(missing)} missing; a "
        "multi-process run needs all of HCSC_COORDINATOR=<host:port>, "
        "HCSC_NUM_PROCESSES and HCSC_PROCESS_ID.")
  try:
    count = int(given[ENV_NUM_PROCESSES])
    index = int(given[ENV_PROCESS_ID])
  except ValueError:
    raise TopologyError(
        f"{ENV_NUM_PROCESSES}={given[ENV_NUM_PROCESSES]!r} and "
        f"{ENV_PROCESS_ID}={given[ENV_PROCESS_ID]!r} must be integers.") from None
  if count < 1 or not 0 <= index < count:
    raise TopologyError(f"{ENV_PROCESS_ID}={index} is not in [0, {count}) "
                        f"({ENV_NUM_PROCESSES}={count}).")
  if ":" not in given[ENV_COORDINATOR]:
    raise TopologyError(f"{ENV_COORDINATOR}={given[ENV_COORDINATOR]!r} must "
                        "be host:port.")
  return {"coordinator_address": given[ENV_COORDINATOR],
          "num_processes": count, "process_id": index}


def _cluster_detected(env) -> bool:
  slurm_tasks = int(env.get("SLURM_NTASKS", "1") or 1)
  tpu_workers = [h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",")
                 if h]
  return (slurm_tasks > 1 or len(tpu_workers) > 1
          or env.get("HCSC_DISTRIBUTED") == "auto")


def initialize_from_environment(env=None) -> bool:
  """Initialises jax.distributed when the environment describes several
  processes; returns whether it did. Call before anything touches JAX."""
  env = os.environ if env is None else env
  explicit = _explicit_settings(env)
  if explicit is not None:
    if explicit["num_processes"] == 1:
      return False
    jax.distributed.initialize(**explicit)
  elif _cluster_detected(env):
    jax.distributed.initialize()
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
