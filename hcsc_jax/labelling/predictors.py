"""Class probabilities for every image from a few labelled ones.

Four predictors, measured against each other in the label-loop study
(results/label_loop_study, README "Label a collection"):

- `knn`: the weighted kNN vote of docs/method.md §7 against the labelled
  images only (k nearest labelled images vote with weight exp(sim / T)).
- `logistic`: multinomial logistic regression on the standardised features
  (the linear protocol's classifier).
- `hierarchy`: labels along HCSC's prototype tree (Dasgupta & Hsu's
  hierarchical sampling applied to the learned tree): every prototype's
  class distribution is its labelled members' counts smoothed towards its
  parent's distribution, so a prototype without labels takes its parent's
  and one whose members disagree leans on it.
- `spread`: label spreading (Zhou et al. 2004) on the kNN graph of the
  images, labelled and unlabelled alike, solved exactly by conjugate
  gradients as Iscen et al. (CVPR 2019) do for deep features.

Each returns [N, C] probabilities (rows sum to 1), C = `num_classes`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hcsc_jax.labelling import neighbours

PREDICTORS = ("spread", "knn", "logistic", "hierarchy")
KNN_K = 10
KNN_TEMPERATURE = 0.07
GRAPH_K = 20          # neighbours of the spreading graph
SPREAD_ALPHA = 0.99   # Zhou et al.'s and Iscen et al.'s alpha
SPREAD_GAMMA = 3      # edge weight max(cos, 0)^gamma (Iscen et al.)
HIERARCHY_PRIOR = 1.0  # pseudo-counts a prototype borrows from its parent


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
  return np.eye(num_classes, dtype=np.float64)[np.asarray(labels, np.int64)]


def knn(features: np.ndarray, rows: np.ndarray, labels: np.ndarray,
        num_classes: int, k: int = KNN_K,
        temperature: float = KNN_TEMPERATURE) -> np.ndarray:
  """Weighted vote of the k most similar labelled images."""
  points = neighbours.unit(features)
  bank = points[rows]
  k = min(k, len(rows))
  out = np.empty((points.shape[0], num_classes))
  for start in range(0, points.shape[0], 8192):
    sims = points[start:start + 8192] @ bank.T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    weights = np.exp((np.take_along_axis(sims, top, axis=1) - 1.0)
                     / temperature)
    votes = np.zeros((sims.shape[0], num_classes))
    np.add.at(votes, (np.arange(sims.shape[0])[:, None],
                      np.asarray(labels)[top]), weights)
    out[start:start + 8192] = votes
  return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-300)


def logistic(features: np.ndarray, rows: np.ndarray, labels: np.ndarray,
             num_classes: int) -> np.ndarray:
  """Multinomial logistic regression (L2, C=1) on standardised features."""
  from sklearn.linear_model import LogisticRegression  # pylint: disable=g-import-not-at-top
  x = np.asarray(features, np.float64)
  mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
  x = (x - mean) / std
  present = np.unique(labels)
  out = np.zeros((x.shape[0], num_classes))
  if present.size == 1:
    out[:, present[0]] = 1.0
    return out
  model = LogisticRegression(max_iter=1000)
  model.fit(x[rows], labels)
  out[:, model.classes_] = model.predict_proba(x)
  return out


def hierarchy(assignments: Sequence[np.ndarray],
              parents: Sequence[np.ndarray], rows: np.ndarray,
              labels: np.ndarray, num_classes: int,
              prior: float = HIERARCHY_PRIOR) -> np.ndarray:
  """Each image takes its finest prototype's smoothed class distribution:
  from the top level down, p(proto) = (counts + prior * p(parent)) /
  (n + prior); the top level borrows the labelled set's class shares."""
  onehot = _one_hot(labels, num_classes)
  top = len(assignments) - 1
  overall = (onehot.sum(axis=0) + 1e-3) / (len(rows) + 1e-3 * num_classes)
  dist = None
  for level in range(top, -1, -1):
    assigned = np.asarray(assignments[level], np.int64)
    size = (int(parents[level].shape[0]) if level < top
            else int(assigned.max()) + 1)
    size = max(size, int(assigned.max()) + 1)
    counts = np.zeros((size, num_classes))
    np.add.at(counts, assigned[rows], onehot)
    base = (np.broadcast_to(overall, counts.shape) if dist is None
            else dist[np.asarray(parents[level], np.int64)[:size]])
    dist = (counts + prior * base) / (counts.sum(axis=1, keepdims=True)
                                      + prior)
  return dist[np.asarray(assignments[0], np.int64)]


class Spreader:
  """Label spreading on one graph, reused for every labelled set (rounds,
  cross-validation folds): F = (I - alpha S)^-1 Y with S the symmetric
  normalised affinity of the kNN graph."""

  def __init__(self, graph: neighbours.Graph, alpha: float = SPREAD_ALPHA,
               gamma: float = SPREAD_GAMMA):
    from scipy import sparse  # pylint: disable=g-import-not-at-top
    count, k = graph.indices.shape
    weights = np.maximum(graph.similarities.astype(np.float64), 0.0) ** gamma
    w = sparse.csr_matrix(
        (weights.ravel(), (np.repeat(np.arange(count), k),
                           graph.indices.ravel())), shape=(count, count))
    w = w + w.T
    degree = np.asarray(w.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    s = sparse.diags(scale) @ w @ sparse.diags(scale)
    self.system = (sparse.identity(count) - alpha * s).tocsr().astype(
        np.float32)
    self.count = count

  def __call__(self, rows: np.ndarray, labels: np.ndarray,
               num_classes: int) -> np.ndarray:
    return self.many([(rows, labels)], num_classes)[0]

  def many(self, sets, num_classes: int) -> list[np.ndarray]:
    """[N, C] probabilities for each (rows, labels) of `sets`, solved
    together (one sparse product per iteration for all of them: the
    folds of a cross-validation)."""
    y = np.zeros((self.count, len(sets) * num_classes), np.float32)
    for i, (rows, labels) in enumerate(sets):
      y[np.asarray(rows), i * num_classes + np.asarray(labels)] = 1.0
    solved = np.maximum(conjugate_gradients(self.system, y), 0.0)
    out = []
    for i in range(len(sets)):
      part = solved[:, i * num_classes:(i + 1) * num_classes].astype(
          np.float64)
      total = part.sum(axis=1, keepdims=True)
      empty = total[:, 0] <= 0
      part[empty] = 1.0 / num_classes
      total[empty] = 1.0
      out.append(part / total)
    return out


def conjugate_gradients(matrix, b: np.ndarray, tolerance: float = 1e-4,
                        max_iterations: int = 500) -> np.ndarray:
  """Solves matrix @ x = b for every column of b at once (matrix sparse,
  symmetric positive definite): one sparse product per iteration for all
  classes instead of one solve per class."""
  with np.errstate(invalid="ignore", divide="ignore"):
    return _conjugate_gradients(matrix, b, tolerance, max_iterations)


def _conjugate_gradients(matrix, b, tolerance, max_iterations):
  x = np.zeros_like(b)
  r = b.copy()
  p = r.copy()
  rr = np.einsum("ij,ij->j", r, r)
  stop = (tolerance ** 2) * np.maximum(np.einsum("ij,ij->j", b, b), 1e-300)
  for _ in range(max_iterations):
    active = rr > stop
    if not active.any():
      break
    q = matrix @ p
    step = np.where(active, rr / np.maximum(np.einsum("ij,ij->j", p, q),
                                            1e-300), 0.0)
    x += step * p
    r -= step * q
    new = np.einsum("ij,ij->j", r, r)
    p = r + np.where(active, new / np.maximum(rr, 1e-300), 0.0) * p
    rr = new
  return x


def top_two(probabilities: np.ndarray):
  """(predicted class, confidence, runner-up class, margin) per row; ties
  go to the lower class."""
  order = np.argsort(-probabilities, axis=1, kind="stable")[:, :2]
  first = np.take_along_axis(probabilities, order[:, :1], axis=1)[:, 0]
  second = (np.take_along_axis(probabilities, order[:, 1:2], axis=1)[:, 0]
            if probabilities.shape[1] > 1 else np.zeros_like(first))
  runner = order[:, 1] if probabilities.shape[1] > 1 else order[:, 0]
  return order[:, 0], first, runner, first - second
