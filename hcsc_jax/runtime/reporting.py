"""Metrics, progress and run records: `metrics.jsonl` plus clu writers
(TensorBoard + log lines), progress bars on the terminal, the resolved
config and the run summary.

clu's writers and progress reports import TensorFlow; on a host without it
(an accelerator host running the in-memory path) metrics still go to
`metrics.jsonl` and the log, and the run says once that TensorBoard events
are off.
"""

from __future__ import annotations

import json
import logging as logging_std
import os
import sys
import time
from typing import Any, Iterable, Mapping

import jax
import numpy as np
from absl import logging
from clu import parameter_overview
import tqdm

from hcsc_jax.runtime import records

# A workdir's metrics file; workdir/layout.py lists it with every other name.
METRICS_FILE = "metrics.jsonl"


# Libraries whose INFO records would drown the run's own log lines.
QUIET_LIBRARIES = ("/orbax/", "/tensorflow_datasets/", "/etils/")


class _QuietLibraries(logging_std.Filter):
  """Drops INFO chatter of QUIET_LIBRARIES, and the tracebacks orbax's
  writer threads log for a full disk: the command's own last line names
  the file, the free space and the remedy."""

  def filter(self, record: logging_std.LogRecord) -> bool:
    library = any(part in record.pathname for part in QUIET_LIBRARIES)
    if library and "No space left on device" in record.getMessage():
      return False
    return record.levelno > logging_std.INFO or not library


def quiet_library_logs() -> None:
  """Keeps warnings and errors of orbax/TFDS but drops their INFO chatter."""
  handler = logging.get_absl_handler()
  if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
    handler.addFilter(_QuietLibraries())


def is_lead_process() -> bool:
  return jax.process_index() == 0


def _tensorflow_free_note(what: str) -> None:
  logging.warning("TensorFlow is not installed, so clu's %s are off: "
                  "metrics go to %s and the log only.", what, METRICS_FILE)


class MetricsWriter:
  """Scalars as JSON lines in `<logdir>/metrics.jsonl` (lead process), and
  through clu's default writer (TensorBoard events, log lines) when it can
  be imported; images go to TensorBoard only."""

  def __init__(self, logdir: str):
    self._path = os.path.join(logdir, METRICS_FILE)
    if is_lead_process():
      os.makedirs(logdir, exist_ok=True)
      records.repair(self._path, warn)
    self._clu = None
    try:
      from clu import metric_writers  # pylint: disable=g-import-not-at-top
    except ImportError:
      _tensorflow_free_note("TensorBoard writers")
    else:
      self._clu = metric_writers.create_default_writer(
          logdir, just_logging=not is_lead_process())

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    values = {k: float(v) for k, v in scalars.items()}
    if self._clu is not None:
      self._clu.write_scalars(step, values)
    else:
      log(f"step {step}: " + ", ".join(f"{k}={v:.6g}"
                                        for k, v in values.items()))
    if is_lead_process():
      records.append(self._path, {"step": int(step), **values})

  def write_images(self, step: int, images: Mapping[str, Any]) -> None:
    if self._clu is not None:
      self._clu.write_images(step, images)

  def flush(self) -> None:
    if self._clu is not None:
      self._clu.flush()


def create_writer(workdir: str) -> MetricsWriter:
  return MetricsWriter(workdir)


def read_metrics(logdir: str) -> list[dict]:
  """The records `MetricsWriter` appended to `<logdir>/metrics.jsonl`
  (damaged lines skipped with a warning naming them)."""
  return records.read(os.path.join(logdir, METRICS_FILE), warn)


class _Progress:
  """Steps/s and ETA in the log every `every_secs` (clu's ReportProgress
  without TensorFlow)."""

  def __init__(self, total_steps: int, every_secs: float):
    self.total, self.every = total_steps, every_secs
    self.last_time, self.last_step = time.time(), None

  def __call__(self, step: int) -> None:
    now = time.time()
    if self.last_step is None:
      self.last_time, self.last_step = now, step
    elif now - self.last_time >= self.every:
      rate = (step - self.last_step) / (now - self.last_time)
      eta = (self.total - step) / rate if rate > 0 else float("inf")
      log(f"step {step}/{self.total}: {rate:.2f} steps/s, ETA "
          f"{eta / 60:.1f} min")
      self.last_time, self.last_step = now, step


def progress_reporter(total_steps: int, writer: MetricsWriter):
  """A callable taking the step number: progress lines (and, with clu,
  its `ReportProgress` metrics)."""
  try:
    from clu import periodic_actions  # pylint: disable=g-import-not-at-top
  except ImportError:
    return _Progress(total_steps, every_secs=30.0)
  return periodic_actions.ReportProgress(
      num_train_steps=total_steps, writer=writer._clu, every_secs=30.0)  # pylint: disable=protected-access


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
  """Written beside `path` and renamed: `path` is the old file or the new
  one, whole (a failed write leaves no temporary file)."""
  if not is_lead_process():
    return
  tmp = path + ".tmp"
  try:
    with open(tmp, "w") as f:
      json.dump(record, f, indent=2, sort_keys=True, default=_plain)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def set_aside(path: str) -> str:
  """Moves a damaged file to `<path>.damaged` (or .damaged.1, ...): kept for
  a look, out of the way of the rewrite."""
  target, suffix = path + ".damaged", 1
  while os.path.exists(target):
    target, suffix = f"{path}.damaged.{suffix}", suffix + 1
  os.replace(path, target)
  return target


def read_json_or_set_aside(path: str) -> dict:
  """The JSON object in `path`; {} when it is missing, and {} with a
  warning when it cannot be parsed (the file is set aside, not deleted):
  for records the run rebuilds, such as summary.json."""
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      record = json.load(f)
    if isinstance(record, dict):
      return record
    problem = f"holds a JSON {type(record).__name__}, not an object"
  except (ValueError, UnicodeDecodeError) as e:
    problem = f"is not valid JSON ({e})"
  moved = set_aside(path) if is_lead_process() else path
  warn(f"{path} {problem}; moved it to {moved} and rebuilt it from this "
       "run (earlier invocations' records in it are not carried over).")
  return {}


def _plain(value):
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  if isinstance(value, (tuple, list)):
    return list(value)
  return str(value)


def log(message: str) -> None:
  if is_lead_process():
    logging.info(message)


def warn(message: str) -> None:
  """A line the user must not miss (also on stderr without absl's INFO)."""
  if is_lead_process():
    logging.warning(message)
