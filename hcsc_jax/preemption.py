"""SIGTERM (preemption) handling: finish the current step, checkpoint, exit 0."""

from __future__ import annotations

import signal
import threading


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

  def restore(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None
