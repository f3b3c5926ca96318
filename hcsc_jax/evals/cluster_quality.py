"""Clustering quality (docs/method.md §7): k-means of the features into several
cluster counts, scored by NMI (`agreement.nmi`, the one the trainer
records) and AMI (scikit-learn) against the labels.

Features are L2-normalised first (the same cosine geometry as kNN and the
pre-training clustering); k-means is faiss's, with the pre-training code's
seed, `niter` and `nredo` semantics.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn import metrics

from hcsc_jax.clustering import hierarchical as clustering
from hcsc_jax.evals import agreement


def scores(features: np.ndarray, labels: np.ndarray,
           num_clusters: Sequence[int], niter: int = 20, nredo: int = 1,
           seed: int = 0) -> dict[str, float]:
  """{'nmi_<k>', 'ami_<k>'} for each k, plus 'nmi' and 'ami' of the first."""
  if labels.min() < 0:
    raise ValueError("some examples have no label; NMI/AMI need a labelled "
                     "data set.")
  points = features / np.maximum(
      np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
  points = np.ascontiguousarray(points, np.float32)
  out = {}
  for k in num_clusters:
    if k > points.shape[0]:
      raise ValueError(f"{k} clusters exceed the {points.shape[0]} examples; "
                       "lower clustering.num_clusters.")
    _, assignments, _ = clustering.kmeans(
        points, int(k), seed=seed, niter=niter, nredo=nredo,
        max_points_per_centroid=max(1, points.shape[0] // k + 1),
        min_points_per_centroid=1)
    out[f"nmi_{k}"] = agreement.nmi(assignments, labels)
    out[f"ami_{k}"] = float(metrics.adjusted_mutual_info_score(
        labels, assignments))
  first = num_clusters[0]
  out["nmi"], out["ami"] = out[f"nmi_{first}"], out[f"ami_{first}"]
  return out
