"""How well cluster assignments agree with class labels: purity and NMI, in
NumPy so the trainer (which records them every epoch) needs no scikit-learn.
Rows labelled -1 are left out. The one NMI of the project: the offline
clustering protocol uses it too (tests check it against scikit-learn).
"""

from __future__ import annotations

import numpy as np


def contingency(assignments: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """[clusters, classes] counts of the labelled rows."""
  keep = labels >= 0
  a, y = assignments[keep], labels[keep]
  table = np.zeros((int(a.max()) + 1, int(y.max()) + 1), np.int64)
  np.add.at(table, (a, y), 1)
  return table


def purity(assignments: np.ndarray, labels: np.ndarray) -> float:
  """Share of rows whose cluster's majority class is their class."""
  table = contingency(assignments, labels)
  return float(table.max(axis=1).sum() / max(table.sum(), 1))


def nmi(assignments: np.ndarray, labels: np.ndarray) -> float:
  """Normalised mutual information, arithmetic-mean normalisation (as
  scikit-learn's default)."""
  table = contingency(assignments, labels).astype(np.float64)
  total = table.sum()
  if total == 0:
    return 0.0
  joint = table / total
  pa, py = joint.sum(axis=1), joint.sum(axis=0)
  nz = joint > 0
  mutual = float(np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, py)[nz])))
  entropy = lambda p: float(-np.sum(p[p > 0] * np.log(p[p > 0])))
  ha, hy = entropy(pa), entropy(py)
  if ha == 0 and hy == 0:
    return 1.0
  return mutual / max((ha + hy) / 2, 1e-12)
