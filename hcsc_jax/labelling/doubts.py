"""What the labelled set alone says about the predictions (a user has no
test set): out-of-sample predictions of the labelled images by K-fold
cross-validation, from which come the estimated accuracy, the confidence
above which predictions are estimated >= 95% precise, and the human labels
the encoder disagrees with (probable typos, ranked as cleanlab ranks label
issues: by the out-of-sample probability of the given label).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

FOLDS = 5
TARGET_PRECISION = 0.95
MIN_ESTIMATE_LABELS = 20   # fewer labelled images: no precision estimate
# The threshold needs the precision's lower confidence bound (Wilson,
# one-sided 95%) to reach the target, not just its point estimate: with
# 20-100 labels the point estimate promised 95% and gave 80-93%.
BOUND_Z = 1.645


def out_of_sample(predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                  rows: np.ndarray, labels: np.ndarray, seed: int = 0,
                  folds: int = FOLDS, predict_many=None) -> np.ndarray:
  """[len(rows), C] each labelled image's probabilities predicted from the
  other folds' labels only; `predict(rows, labels)` -> [N, C], or
  `predict_many([(rows, labels), ...])` -> a list of them, all folds in
  one call."""
  rows = np.asarray(rows, np.int64)
  labels = np.asarray(labels, np.int64)
  folds = max(2, min(folds, rows.size))
  fold = np.random.default_rng(seed).permutation(rows.size) % folds
  sets = [(rows[fold != f], labels[fold != f]) for f in range(folds)]
  results = (predict_many(sets) if predict_many is not None
             else [predict(r, y) for r, y in sets])
  out = np.zeros((rows.size, results[0].shape[1]))
  for f, probabilities in enumerate(results):
    out[fold == f] = probabilities[rows[fold == f]]
  return out


def model_out_of_sample(model, rows: np.ndarray, labels: np.ndarray,
                        classes: int, seed: int = 0) -> np.ndarray:
  """`out_of_sample` of a predictor `model(rows, labels, classes)`, all
  folds in one call when it has `many` (label spreading)."""
  many = getattr(model, "many", None)
  return out_of_sample(
      lambda r, y: model(r, y, classes), rows, labels, seed,
      predict_many=(lambda sets: many(sets, classes)) if many else None)


@dataclasses.dataclass
class Estimate:
  accuracy: float                 # cross-validated, on the labelled set
  threshold: Optional[float]      # confidence for >= TARGET_PRECISION
  reason: str                     # why there is no threshold, if none


def estimate(oos: np.ndarray, labels: np.ndarray,
             target: float = TARGET_PRECISION) -> Estimate:
  """Accuracy of the out-of-sample predictions, and the lowest confidence
  at which the labelled images predicted at least that confidently are
  `target` precise by the lower bound of their precision (None with a
  reason when too few labels or never)."""
  labels = np.asarray(labels, np.int64)
  predicted = np.argmax(oos, axis=1)
  confidence = oos.max(axis=1)
  correct = predicted == labels
  accuracy = float(correct.mean()) if labels.size else float("nan")
  if labels.size < MIN_ESTIMATE_LABELS:
    return Estimate(accuracy, None, f"fewer than {MIN_ESTIMATE_LABELS} "
                    "labelled images")
  order = np.argsort(-confidence, kind="stable")
  precision = wilson_lower(np.cumsum(correct[order]),
                           np.arange(1, labels.size + 1))
  good = np.flatnonzero(precision >= target)
  if good.size == 0:
    return Estimate(accuracy, None, f"your labels do not yet show "
                    f"{target:.0%} precision at any confidence by the lower "
                    "bound this estimate uses (more labels tighten it)")
  return Estimate(accuracy, float(confidence[order[good[-1]]]), "")


def wilson_lower(successes, trials, z: float = BOUND_Z) -> np.ndarray:
  """Lower end of the Wilson score interval of a proportion."""
  n = np.asarray(trials, np.float64)
  p = np.asarray(successes, np.float64) / n
  centre = p + z * z / (2 * n)
  spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
  return (centre - spread) / (1 + z * z / n)


def label_issues(oos: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """Positions (into the labelled set) ranked from most to least suspect:
  by the out-of-sample probability of the given label, lowest first."""
  labels = np.asarray(labels, np.int64)
  given = oos[np.arange(labels.size), labels]
  return np.argsort(given, kind="stable")
