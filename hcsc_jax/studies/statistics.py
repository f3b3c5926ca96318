"""Statistics over seeds: mean and spread per variant, and paired
differences (same seeds) with a Student-t 95% interval.

A difference counts as separated from seed noise only when its interval
excludes zero; with 3 seeds the interval is wide (t = 4.30 at 2 degrees of
freedom), which is the honest price of few runs.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as scipy_stats


def summary(values: Sequence[float]) -> dict[str, float]:
  """n, mean, sample std (ddof 1; 0 for one value), min, max."""
  x = np.asarray(values, np.float64)
  return {"n": int(x.size), "mean": float(x.mean()),
          "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
          "min": float(x.min()), "max": float(x.max())}


def paired_difference(values: Sequence[float], baseline: Sequence[float],
                      confidence: float = 0.95) -> dict[str, float]:
  """Mean of `values - baseline` (paired by position) and its t interval;
  `separated` when the interval excludes 0 (needs at least 2 pairs)."""
  d = np.asarray(values, np.float64) - np.asarray(baseline, np.float64)
  out = {"n": int(d.size), "mean": float(d.mean()), "low": math.nan,
         "high": math.nan, "separated": False}
  if d.size > 1:
    half = (scipy_stats.t.ppf(0.5 + confidence / 2, d.size - 1)
            * d.std(ddof=1) / math.sqrt(d.size))
    out.update(low=float(d.mean() - half), high=float(d.mean() + half),
               separated=bool(d.mean() - half > 0 or d.mean() + half < 0))
  return out
