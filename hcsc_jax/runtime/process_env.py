"""What the environment says about the processes of a run, read without
importing JAX (the supervisor, runtime/supervisor.py, must decide before
JAX starts): explicit HCSC_* variables, SLURM, a TPU pod."""

from __future__ import annotations

import os
from typing import Mapping

from hcsc_jax.errors import TopologyError

ENV_COORDINATOR = "HCSC_COORDINATOR"
ENV_NUM_PROCESSES = "HCSC_NUM_PROCESSES"
ENV_PROCESS_ID = "HCSC_PROCESS_ID"
ENV_HEARTBEAT_TIMEOUT = "HCSC_HEARTBEAT_TIMEOUT_S"
DEFAULT_HEARTBEAT_TIMEOUT_S = 100  # JAX's own default


def explicit_settings(env: Mapping[str, str]) -> dict | None:
  """jax.distributed.initialize arguments from HCSC_COORDINATOR,
  HCSC_NUM_PROCESSES and HCSC_PROCESS_ID; None when none is set."""
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


def cluster_detected(env: Mapping[str, str]) -> bool:
  """SLURM with several tasks, a TPU pod, or HCSC_DISTRIBUTED=auto."""
  slurm_tasks = int(env.get("SLURM_NTASKS", "1") or 1)
  tpu_workers = [h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",")
                 if h]
  return (slurm_tasks > 1 or len(tpu_workers) > 1
          or env.get("HCSC_DISTRIBUTED") == "auto")


def heartbeat_timeout_s(env: Mapping[str, str]) -> int:
  """How long a silent peer is waited for before the run is declared
  broken (HCSC_HEARTBEAT_TIMEOUT_S, default JAX's 100 s)."""
  value = env.get(ENV_HEARTBEAT_TIMEOUT, "")
  if not value:
    return DEFAULT_HEARTBEAT_TIMEOUT_S
  try:
    seconds = int(value)
  except ValueError:
    seconds = 0
  if seconds < 1:
    raise TopologyError(f"{ENV_HEARTBEAT_TIMEOUT}={value!r} must be a "
                        "positive number of seconds.")
  return seconds


def several_processes(env: Mapping[str, str] | None = None) -> bool:
  """Whether this command is one process of a multi-process run (False
  for settings that are wrong: the command itself then says why)."""
  env = os.environ if env is None else env
  try:
    explicit = explicit_settings(env)
  except TopologyError:
    return False
  if explicit is not None:
    return explicit["num_processes"] > 1
  return cluster_detected(env)


def process_label(env: Mapping[str, str] | None = None) -> tuple[int, int]:
  """(this process's index, number of processes) as far as the environment
  tells; (0, 1) when it does not."""
  env = os.environ if env is None else env
  for index_name, count_name in ((ENV_PROCESS_ID, ENV_NUM_PROCESSES),
                                 ("SLURM_PROCID", "SLURM_NTASKS")):
    try:
      return int(env[index_name]), int(env[count_name])
    except (KeyError, ValueError):
      continue
  return 0, 1
