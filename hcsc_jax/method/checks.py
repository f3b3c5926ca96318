"""Argument validation for the pure math modules.

The math is jit-compiled, so shape errors are found at trace time (shapes are
static) and value errors (ids out of range, non-positive temperatures) only
when the caller passes concrete arrays; inside `jit` those values are unknown
and the checks are skipped rather than guessed.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np


def concrete_value(x) -> np.ndarray | None:
  """Returns `x` as a NumPy array, or None when `x` is traced under jit."""
  try:
    return np.asarray(x)
  except (jax.errors.TracerArrayConversionError,
          jax.errors.ConcretizationTypeError):
    return None


def check_rank(name: str, x, rank: int) -> None:
  if np.ndim(x) != rank:
    raise ValueError(
        f"{name} must have rank {rank}, got shape {tuple(np.shape(x))}.")


def check_dim(name: str, x, axis: int, expected: int, what: str) -> None:
  actual = np.shape(x)[axis]
  if actual != expected:
    raise ValueError(
        f"{name} has size {actual} on axis {axis} but {what} is {expected}; "
        f"shape is {tuple(np.shape(x))}.")


def check_ids_in_range(name: str, ids, upper: int) -> None:
  """Raises if concrete integer ids fall outside [0, upper)."""
  if not np.issubdtype(np.dtype(ids.dtype), np.integer):
    raise ValueError(f"{name} must be an integer array, got dtype {ids.dtype}.")
  value = concrete_value(ids)
  if value is None or value.size == 0:
    return
  low, high = int(value.min()), int(value.max())
  if low < 0 or high >= upper:
    raise ValueError(
        f"{name} holds ids in [{low}, {high}] but must lie in [0, {upper}) "
        f"(there are {upper} of them).")


def check_positive(name: str, x) -> None:
  value = concrete_value(x)
  if value is not None and value.size and not np.all(value > 0):
    raise ValueError(
        f"{name} must be positive everywhere; its minimum is {value.min()}.")


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
  if value not in choices:
    raise ValueError(
        f"{name}={value!r} is not supported; choose one of {list(choices)}.")
