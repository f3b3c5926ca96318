"""A full disk (or a used-up quota, or a read-only file system) named the
same way by every command: which file could not be written, how much space
is free there, how much the write needed when known, and what to do; and a
warning before each checkpoint when the free space will not last.
"""

from __future__ import annotations

import errno
import os
import shutil
from typing import Optional

DISK_ERRNOS = {errno.ENOSPC: "its disk is full",
               errno.EDQUOT: "the disk quota is used up",
               errno.EROFS: "its file system is read-only"}
CHECKPOINTS_AHEAD = 3


def os_error_in(error: BaseException) -> Optional[OSError]:
  """The first OSError in `error`'s cause chain (orbax and others wrap I/O
  failures)."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, OSError):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


def disk_error_in(error: BaseException) -> Optional[OSError]:
  """The OSError of a full disk, quota or read-only file system in the
  chain; TensorFlow's I/O errors are recognised by their text."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
      return error
    if "No space left on device" in str(error):
      return OSError(errno.ENOSPC, "No space left on device",
                     getattr(error, "filename", None))
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


def free_bytes(path: str) -> Optional[int]:
  """Free bytes on the file system holding `path` (or its nearest
  existing parent); None when it cannot be told."""
  path = os.path.abspath(path)
  while path and not os.path.exists(path):
    parent = os.path.dirname(path)
    if parent == path:
      return None
    path = parent
  try:
    return shutil.disk_usage(path).free
  except OSError:
    return None


def folder_bytes(path: str) -> int:
  """Bytes of the files under `path` (0 when it does not exist)."""
  total = 0
  for folder, _, files in os.walk(path):
    for name in files:
      try:
        total += os.lstat(os.path.join(folder, name)).st_size
      except OSError:
        pass
  return total


def size_text(count: Optional[int]) -> str:
  if count is None:
    return "an unknown amount"
  for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
    if count >= scale:
      return f"{count / scale:.1f} {unit}"
  return f"{count} bytes"


def describe(error: OSError, path: Optional[str] = None,
             needed: Optional[int] = None) -> str:
  """`could not write <path>: its disk is full (<free> free there; this
  write needed about <needed>)`."""
  path = path or error.filename or "a file"
  what = DISK_ERRNOS.get(error.errno, error.strerror or str(error))
  free = free_bytes(path) if path != "a file" else None
  parts = [f"{size_text(free)} free there" if free is not None else None,
           f"this write needed about {size_text(needed)}"
           if needed is not None else None]
  detail = "; ".join(p for p in parts if p)
  return f"could not write {path}: {what}" + (f" ({detail})" if detail
                                                else "")


def low_space_warning(workdir: str, checkpoint: int, logs: int,
                      keep: int, existing: int) -> Optional[str]:
  """A warning when the free space on the workdir's disk will not hold the
  next CHECKPOINTS_AHEAD checkpoints (`checkpoint` bytes each, counting
  that orbax deletes beyond `keep`) and their logs (`logs` bytes per
  checkpoint interval); None when it will."""
  free = free_bytes(workdir)
  if free is None:
    return None
  new_checkpoints = max(1, min(CHECKPOINTS_AHEAD, keep - existing + 1))
  needed = new_checkpoints * checkpoint + CHECKPOINTS_AHEAD * logs
  if free >= needed:
    return None
  return (f"only {size_text(free)} free on the disk of {workdir}: the next "
          f"{CHECKPOINTS_AHEAD} checkpoints ({size_text(checkpoint)} each) "
          f"and their logs ({size_text(logs)} per checkpoint) need about "
          f"{size_text(needed)}. Free space or move the workdir to a roomier "
          "disk; if the disk fills, the run stops and a rerun resumes from "
          "its last checkpoint.")
