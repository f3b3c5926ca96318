"""Metrics, progress and run records: clu writers (TensorBoard + log lines),
progress bars on the terminal, the resolved config and the run summary."""

from __future__ import annotations

import json
import logging as logging_std
import os
import sys
from typing import Any, Iterable

import jax
import numpy as np
from absl import logging
from clu import metric_writers
from clu import parameter_overview
from clu import periodic_actions
import tqdm


# Libraries whose INFO records would drown the run's own log lines.
QUIET_LIBRARIES = ("/orbax/", "/tensorflow_datasets/", "/etils/")


class _QuietLibraries(logging_std.Filter):

  def filter(self, record: logging_std.LogRecord) -> bool:
    return record.levelno > logging_std.INFO or not any(
        part in record.pathname for part in QUIET_LIBRARIES)


def quiet_library_logs() -> None:
  """Keeps warnings and errors of orbax/TFDS but drops their INFO chatter."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
    handler.addFilter(_QuietLibraries())


def is_lead_process() -> bool:
  return jax.process_index() == 0


def create_writer(workdir: str) -> metric_writers.MetricWriter:
  return metric_writers.create_default_writer(
      workdir, just_logging=not is_lead_process())


def progress_reporter(total_steps: int, writer) -> periodic_actions.ReportProgress:
  return periodic_actions.ReportProgress(num_train_steps=total_steps,
                                         writer=writer, every_secs=30.0)


def progress_bar(iterable: Iterable, total: int, description: str):
  """A terminal progress bar on the lead process (plain iteration elsewhere)."""
  return tqdm.tqdm(iterable, total=total, desc=description, leave=False,
                   dynamic_ncols=True, mininterval=1.0, file=sys.stderr,
                   disable=not is_lead_process())


def log_parameters(params: Any) -> None:
  if is_lead_process():
    parameter_overview.log_parameter_overview(params)


def averaged(totals: dict[str, Any]) -> dict[str, float]:
  """Device running sums -> host averages (the only sync of the loop)."""
  host = jax.device_get(totals)
  count = max(float(host.pop("count")), 1.0)
  host.pop("first_nonfinite_step", None)
  host.pop("step", None)
  return {name: float(value) / count for name, value in host.items()}


def save_json(path: str, record: dict) -> None:
  if not is_lead_process():
    return
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=2, sort_keys=True, default=_plain)
  os.replace(tmp, path)


def _plain(value):
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  if isinstance(value, (tuple, list)):
    return list(value)
  return str(value)


def save_config(config, workdir: str) -> None:
  if is_lead_process():
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))


def log(message: str) -> None:
  if is_lead_process():
    logging.info(message)
