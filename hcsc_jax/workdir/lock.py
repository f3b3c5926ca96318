"""One writer per workdir: an exclusive lock file that also works on shared
file systems (NFS, Lustre), where `fcntl` locks are not reliable.

`<dir>/.hcsc_lock` is created with O_CREAT | O_EXCL and holds the holder's
host, pid, process start time, when it started and a heartbeat timestamp
that a daemon thread refreshes while the run lives. A second run is refused
with one line naming the holder. A lock whose holder is gone (same host and
that process no longer exists, or a heartbeat older than `stale_after_s`) is
taken over, with a log line saying so.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

from absl import logging

from hcsc_jax.errors import WorkdirBusyError
from hcsc_jax.workdir import layout as workdir_layout

LOCK_FILE = workdir_layout.LOCK


def _process_start(pid: int) -> str | None:
  """The kernel's start time of `pid` (tells a reused pid apart), if known."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[19]
  except (OSError, IndexError):
    return None


def _alive(pid: int, start: str | None) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return start is None or _process_start(pid) in (None, start)


class WorkdirLock:
  """Held for the lifetime of a run; use as a context manager."""

  def __init__(self, directory: str, what: str, stale_after_s: float = 600.0,
               heartbeat_s: float = 30.0):
    self.directory = os.path.abspath(directory)
    self.path = os.path.join(self.directory, LOCK_FILE)
    self.what, self.stale_after_s = what, stale_after_s
    self.heartbeat_s = min(heartbeat_s, stale_after_s / 4)
    self.token = uuid.uuid4().hex
    self._stop = threading.Event()
    self._thread = None

  def _record(self, started: float) -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid,
            "process_start": _process_start(pid), "what": self.what,
            "started": started, "heartbeat": time.time(),
            "token": self.token}

  def _read(self) -> dict | None:
    try:
      with open(self.path) as f:
        return json.load(f)
    except FileNotFoundError:
      return None
    except (OSError, ValueError):
      return {}  # being written, or garbage: judged by its age below

  def _stale(self, holder: dict) -> str | None:
    """Why the holder is gone, or None when it may still be running."""
    age = time.time() - float(holder.get("heartbeat", 0) or
                              os.path.getmtime(self.path))
    if holder.get("host") == socket.gethostname() and "pid" in holder:
      if not _alive(int(holder["pid"]), holder.get("process_start")):
        return f"process {holder['pid']} on this host no longer exists"
    if age > self.stale_after_s:
      return f"its heartbeat is {age:.0f} s old (limit {self.stale_after_s:.0f} s)"
    return None

  def acquire(self) -> None:
    os.makedirs(self.directory, exist_ok=True)
    for _ in range(3):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self._read()
        if holder is None:
          continue  # released meanwhile
        reason = self._stale(holder)
        if reason is None:
          since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(
              float(holder.get("started", 0))))
          raise WorkdirBusyError(
              f"{self.directory} is in use by {holder.get('what', 'a run')} "
              f"on host {holder.get('host')}, pid {holder.get('pid')}, since "
              f"{since}; wait for it to end (or stop it), or use another "
              "directory.") from None
        self._take_over(holder, reason)
        continue
      with os.fdopen(fd, "w") as f:
        json.dump(self._record(time.time()), f)
      self._thread = threading.Thread(target=self._beat, daemon=True,
                                      name="workdir-lock-heartbeat")
      self._thread.start()
      return
    raise WorkdirBusyError(f"could not take the lock {self.path}: other runs "
                           "keep taking it; try again.")

  def _take_over(self, holder: dict, reason: str) -> None:
    """Removes a stale lock, only if it is still the one judged stale."""
    aside = f"{self.path}.stale.{self.token}"
    try:
      os.replace(self.path, aside)
    except FileNotFoundError:
      return
    with open(aside) as f:
      try:
        moved = json.load(f)
      except ValueError:
        moved = {}
    if moved.get("token") != holder.get("token"):  # someone else's new lock
      os.replace(aside, self.path)
      return
    os.remove(aside)
    logging.warning("took over the lock of %s: the previous holder (%s on "
                    "%s, pid %s) is gone: %s.", self.directory,
                    holder.get("what"), holder.get("host"), holder.get("pid"),
                    reason)

  def _beat(self) -> None:
    started = time.time()
    while not self._stop.wait(self.heartbeat_s):
      current = self._read()
      if not current or current.get("token") != self.token:
        logging.error("the lock %s is no longer ours (taken over?); the run "
                      "goes on but another run may now write here.", self.path)
        return
      record = self._record(float(current.get("started", started)))
      tmp = f"{self.path}.{self.token}"
      with open(tmp, "w") as f:
        json.dump(record, f)
      os.replace(tmp, self.path)

  def release(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
    current = self._read()
    if current and current.get("token") == self.token:
      os.remove(self.path)

  def __enter__(self) -> "WorkdirLock":
    self.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.release()


def require(directory: str, what: str) -> None:
  """On non-lead processes of a multi-process run: the lead's lock must be
  there (it took it before any of them got here)."""
  path = os.path.join(os.path.abspath(directory), LOCK_FILE)
  if not os.path.exists(path):
    raise WorkdirBusyError(
        f"{path} is missing: the lead process of this {what} does not hold "
        "the workdir; the workdir must be on a file system all processes "
        "share.")
