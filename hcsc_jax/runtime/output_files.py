"""Writing a command's output files like any other tool would: missing
parent folders are created, a file appears under its name only once it is
complete (written beside it, then renamed), and it gets the mode the user's
umask implies (a temporary file keeps mkstemp's 0600 otherwise, so a
teammate could not read exported weights).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from hcsc_jax.errors import OutputError


def _umask() -> int:
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def prepare(path: str, flag: str = "--output") -> str:
  """The absolute path, its parent folder created; OutputError (one line)
  when it is a folder or its folder cannot be made or written."""
  path = os.path.abspath(os.path.expanduser(path))
  if os.path.isdir(path):
    raise OutputError(f"{flag}={path} is a folder; give a file name.")
  parent = os.path.dirname(path)
  try:
    os.makedirs(parent, exist_ok=True)
  except OSError as e:
    raise OutputError(f"{flag}={path}: cannot create {parent} "
                      f"({e.strerror or e}); choose a writable location."
                      ) from None
  if not os.access(parent, os.W_OK | os.X_OK):
    raise OutputError(f"{flag}={path}: {parent} is not writable; choose a "
                      "writable location.")
  return path


def prepare_folder(path: str, flag: str = "--output") -> str:
  """The absolute folder, created; OutputError (one line) when it cannot be."""
  path = os.path.abspath(os.path.expanduser(path))
  if os.path.exists(path) and not os.path.isdir(path):
    raise OutputError(f"{flag}={path} is a file; give a folder.")
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise OutputError(f"{flag}={path}: cannot create it ({e.strerror or e});"
                      " choose a writable location.") from None
  if not os.access(path, os.W_OK | os.X_OK):
    raise OutputError(f"{flag}={path} is not writable; choose a writable "
                      "location.")
  return path


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
  """Yields a temporary path beside `path` to write to; on success it is
  given the umask's mode and renamed to `path`; on any failure (Ctrl-C
  included) it is removed, so `path` is either the old file or complete."""
  directory, name = os.path.split(os.path.abspath(path))
  tmp = os.path.join(directory, f".{name}.partial{os.getpid()}")
  try:
    yield tmp
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


@contextlib.contextmanager
def atomic_files(paths: list[str]) -> Iterator[list[str]]:
  """`atomic_path` for several files written together: none appears until
  every one is complete, then each is renamed into place; on any failure
  the temporary files are removed and the old files stay as they were."""
  with contextlib.ExitStack() as stack:
    tmps = [stack.enter_context(atomic_path(p)) for p in paths]
    yield tmps
