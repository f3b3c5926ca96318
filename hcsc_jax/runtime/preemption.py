"""Stopping at a safe point: SIGTERM (preemption) and the first Ctrl-C
(SIGINT) make the run checkpoint where it stands and exit (0 after SIGTERM,
130 after Ctrl-C, as shells expect); a second Ctrl-C stops at once and says
what since the last checkpoint is lost.

Between train steps the loop polls the flag. Long phases that do not return
to the loop (compiling the step, k-means in faiss) run in a worker thread
while the main thread polls, so a stop during them is honoured within a
fraction of a second: their result is simply abandoned (they change no
state) and redone after the restart.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class Preempted(Exception):
  """Raised out of a phase that a SIGTERM or Ctrl-C interrupted."""


def _say(line: str) -> None:
  """Writes straight to stderr: safe inside a signal handler, even while
  the main thread is in the middle of a buffered print."""
  os.write(2, (line.rstrip("\n") + "\n").encode())


class PreemptionWatcher:
  """Turns SIGTERM and the first SIGINT into a flag the training loop polls
  between steps.

  `lost_work` (set by the trainer) describes what a second Ctrl-C loses,
  e.g. 'the 12 train steps since checkpoint step 40'.
  """

  def __init__(self, lost_work: Callable[[], str] | None = None):
    self._event = threading.Event()
    self._previous: dict[int, Any] = {}
    self.signal: int | None = None
    self.lost_work = lost_work
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGTERM, signal.SIGINT):
        self._previous[signum] = signal.signal(signum, self._handle)

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    if signum == signal.SIGINT and self.signal == signal.SIGINT:
      lost = "work since the last checkpoint is lost"
      if self.lost_work is not None:
        try:
          lost = self.lost_work()
        except Exception:  # pylint: disable=broad-except
          pass
      _say(f"second Ctrl-C: stopped at once; {lost}. Rerun the same "
           "command to resume from the last checkpoint.")
      os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access
    if self.signal is None or signum == signal.SIGINT:
      self.signal = signum
    if signum == signal.SIGINT:
      _say("Ctrl-C: stopping at the next safe point to write a checkpoint "
           "(press Ctrl-C again to stop at once, losing the work since the "
           "last checkpoint).")
    self._event.set()

  @property
  def requested(self) -> bool:
    return self._event.is_set()

  @property
  def interrupted(self) -> bool:
    """Whether the stop came from Ctrl-C (SIGINT) rather than SIGTERM."""
    return self.signal == signal.SIGINT

  @property
  def exit_status(self) -> int:
    return EXIT_INTERRUPTED if self.interrupted else 0

  def stop_line(self, where: str) -> str:
    """The one line a stopped run ends with."""
    word = "interrupted" if self.interrupted else "preempted"
    return f"{word}: {where}; rerun the same command to resume."

  def check(self) -> None:
    """Raises Preempted when a stop was asked for (reads the signal flag
    itself: `requested` is what the step loop polls)."""
    if self._event.is_set():
      raise Preempted()

  def restore(self) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}


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
  # A stop that came while the phase was finishing (after the last poll)
  # still stops here, before the run goes on to the next phase.
  watcher.check()
  if "error" in outcome:
    raise outcome["error"]
  return outcome["value"]
