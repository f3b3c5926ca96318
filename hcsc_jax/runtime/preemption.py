"""SIGTERM (preemption) handling: the run stops at the next safe point,
checkpoints and exits 0.

Between train steps the loop polls the flag. Long phases that do not return
to the loop (compiling the step, k-means in faiss) run in a worker thread
while the main thread polls, so a SIGTERM during them is honoured within a
fraction of a second: their result is simply abandoned (they change no
state) and redone after the restart.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable


class Preempted(Exception):
  """Raised out of a phase that a SIGTERM interrupted."""


class PreemptionWatcher:
  """Turns SIGTERM into a flag the training loop polls between steps."""

  def __init__(self):
    self._event = threading.Event()
    self._previous = None
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    self._event.set()

  @property
  def requested(self) -> bool:
    return self._event.is_set()

  def check(self) -> None:
    """Raises Preempted when a SIGTERM has arrived (reads the signal flag
    itself: `requested` is what the step loop polls)."""
    if self._event.is_set():
      raise Preempted()

  def restore(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None


def run_interruptible(fn: Callable[[], Any], watcher: PreemptionWatcher,
                      poll_s: float = 0.1) -> Any:
  """fn() in a daemon thread; its result, its exception, or Preempted as
  soon as the watcher is set (the thread is left to finish on its own)."""
  outcome: dict[str, Any] = {}
  done = threading.Event()

  def work():
    try:
      outcome["value"] = fn()
    except BaseException as e:  # pylint: disable=broad-except
      outcome["error"] = e
    finally:
      done.set()

  threading.Thread(target=work, daemon=True, name="interruptible").start()
  while not done.wait(poll_s):
    watcher.check()
  # A SIGTERM that came while the phase was finishing (after the last poll)
  # still stops here, before the run goes on to the next phase.
  watcher.check()
  if "error" in outcome:
    raise outcome["error"]
  return outcome["value"]
