"""Timing helpers shared by the benchmark parts."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import jax


def timed(fn: Callable[[int], object], warmup: int, steps: int
          ) -> tuple[float, float]:
  """(seconds of the first call, median seconds of the timed calls)."""
  start = time.perf_counter()
  jax.block_until_ready(fn(0))
  first = time.perf_counter() - start
  for i in range(warmup):
    jax.block_until_ready(fn(1 + i))
  times = []
  for i in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(fn(100 + i))
    times.append(time.perf_counter() - start)
  return first, statistics.median(times)


def cpu_seconds() -> float:
  import resource  # pylint: disable=g-import-not-at-top
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime
