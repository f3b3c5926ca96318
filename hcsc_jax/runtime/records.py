"""Append-only JSON-lines records (metrics.jsonl, hierarchy_stats.jsonl,
config_history.jsonl). A record is appended whole or not at all: a write
that fails (a full disk) is cut back to where it started. A torn last line
left by a kill is cut back when the run resumes (`repair`, with a warning
that says how many bytes went); readers skip a damaged line with a warning
naming the file and line, never a traceback.
"""

from __future__ import annotations

import json
import os

from hcsc_jax.errors import DiskFullError
from hcsc_jax.runtime import disk_space

_TAIL = 1 << 16


def append(path: str, record: dict) -> None:
  """One JSON line at the end of `path`; DiskFullError (nothing of the
  record left behind) when the disk is full."""
  data = (json.dumps(record) + "\n").encode("utf-8")
  try:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
  except OSError as e:
    _raise_disk_full(e, path, len(data))
    raise
  start = os.lseek(fd, 0, os.SEEK_END)
  try:
    view = memoryview(data)
    while view:  # unbuffered: nothing is left to flush at close
      view = view[os.write(fd, view):]
  except OSError as e:
    try:
      os.ftruncate(fd, start)
    except OSError:
      pass
    _raise_disk_full(e, path, len(data))
    raise
  finally:
    os.close(fd)


def _raise_disk_full(error: OSError, path: str, needed: int) -> None:
  if error.errno in disk_space.DISK_ERRNOS:
    full = DiskFullError(disk_space.describe(error, path, needed))
    full.errno = error.errno
    raise full from error


def repair(path: str, warn=None) -> int:
  """Cuts a torn last line (no newline at the end) back to the last whole
  record; returns the bytes dropped (0 when the file is whole)."""
  if not os.path.exists(path) or os.path.getsize(path) == 0:
    return 0
  size = os.path.getsize(path)
  with open(path, "rb+") as f:
    end = size
    while end > 0:
      start = max(0, end - _TAIL)
      f.seek(start)
      chunk = f.read(end - start)
      if end == size and chunk.endswith(b"\n"):
        return 0
      cut = chunk.rfind(b"\n")
      if cut >= 0:
        keep = start + cut + 1
        break
      end = start
    else:
      keep = 0
    f.truncate(keep)
  dropped = size - keep
  if warn is not None:
    warn(f"{path} ended in a torn record (a write stopped half-way): cut "
         f"the last {dropped} bytes back to the last whole record.")
  return dropped


def read(path: str, warn=None) -> list[dict]:
  """The whole records of `path`, in order; a line that is not a JSON
  object is skipped with a warning naming the file and line."""
  if not os.path.exists(path):
    return []
  out = []
  with open(path, "rb") as f:
    for number, raw in enumerate(f, start=1):
      if not raw.strip():
        continue
      try:
        record = json.loads(raw.decode("utf-8"))
      except (ValueError, UnicodeDecodeError):
        record = None
      if not isinstance(record, dict):
        if warn is not None:
          warn(f"{path} line {number} is not a whole record (a write cut "
               "short, or the file was edited); skipped it.")
        continue
      out.append(record)
  return out
