"""Hierarchical k-means with faiss and per-cluster temperatures
(docs/method.md §2).

Level 0 clusters the N embeddings; level l > 0 clusters the normalised
centroids of level l-1. All post-processing (counts, temperatures, chained
assignments) is vectorised with NumPy; there is no loop over samples.

faiss is imported lazily, so the jax backend works on hosts without faiss.
The result, `ClusterHierarchy`, is defined with its device form in
`hcsc_jax.method.hierarchy` (and importable from here).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hcsc_jax.method.hierarchy import ClusterHierarchy

# Offset inside log(count + 10) of the concentration estimate (PCL, Eq. 3).
CONCENTRATION_SMOOTHING = 10.0
CLIP_PERCENTILES = (10.0, 90.0)


def _validate(features: np.ndarray, num_clusters: Sequence[int],
              tau: float) -> tuple[np.ndarray, list[int]]:
  features = np.asarray(features)
  if features.ndim != 2:
    raise ValueError(f"features must be a [N, d] array, got shape "
                     f"{features.shape}.")
  if not np.issubdtype(features.dtype, np.floating):
    raise ValueError(f"features must be floating point, got {features.dtype}.")
  features = np.ascontiguousarray(features, dtype=np.float32)
  if not np.all(np.isfinite(features)):
    rows = np.flatnonzero(~np.all(np.isfinite(features), axis=1))
    raise ValueError(f"features has {rows.size} rows with NaN or inf (first: "
                     f"row {rows[0]}); the encoder diverged or the input is "
                     "corrupt.")
  counts = [int(m) for m in num_clusters]
  if not counts:
    raise ValueError("num_clusters is empty; give at least one level, e.g. "
                     "(3000, 2000, 1000).")
  if any(m < 1 for m in counts):
    raise ValueError(f"num_clusters must be positive, got {counts}.")
  if any(lower <= upper for lower, upper in zip(counts, counts[1:])):
    raise ValueError(f"num_clusters must be strictly decreasing from the "
                     f"finest level up, got {counts}.")
  if features.shape[0] < counts[0]:
    raise ValueError(f"level 0 has {features.shape[0]} points but "
                     f"num_clusters[0]={counts[0]}; k-means needs at least as "
                     "many points as clusters.")
  if tau <= 0:
    raise ValueError(f"tau must be positive, got {tau}.")
  return features, counts


_GPU_RESOURCES = []  # faiss GPU resources must outlive their indexes
_ANNOUNCED = set()


def flat_l2_index(faiss, dim: int):
  """(exact L2 index, "gpu" or "cpu"): on GPU 0 when this faiss build sees a
  GPU (as the reference clusters), else on the host CPU. Logged once."""
  gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
  where = "gpu" if gpus > 0 else "cpu"
  if where not in _ANNOUNCED:
    _ANNOUNCED.add(where)
    from absl import logging  # pylint: disable=g-import-not-at-top
    logging.info("k-means: faiss on %s", f"GPU 0 ({gpus} visible)"
                 if gpus > 0 else "the CPU (this faiss build sees no GPU)")
  if gpus == 0:
    return faiss.IndexFlatL2(dim), where
  if not _GPU_RESOURCES:
    _GPU_RESOURCES.append(faiss.StandardGpuResources())
  config = faiss.GpuIndexFlatConfig()
  config.device = 0
  return faiss.GpuIndexFlatL2(_GPU_RESOURCES[0], dim, config), where


def kmeans(points: np.ndarray, k: int, seed: int, niter: int, nredo: int,
            max_points_per_centroid: int, min_points_per_centroid: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """faiss k-means; returns raw centroids, each point's nearest centroid and
  the squared L2 distance to it."""
  import faiss  # pylint: disable=g-import-not-at-top

  dim = points.shape[1]
  params = faiss.ClusteringParameters()
  params.niter = niter
  params.nredo = nredo
  params.seed = seed
  params.max_points_per_centroid = max_points_per_centroid
  params.min_points_per_centroid = min_points_per_centroid
  params.verbose = False
  clustering = faiss.Clustering(dim, k, params)
  index, _ = flat_l2_index(faiss, dim)
  clustering.train(points, index)
  centroids = faiss.vector_to_array(clustering.centroids).reshape(k, dim)
  search, _ = flat_l2_index(faiss, dim)
  search.add(centroids)
  distances, nearest = search.search(points, 1)
  return centroids, nearest[:, 0].astype(np.int64), distances[:, 0]


def concentration(distances: np.ndarray, assignments: np.ndarray,
                  num_clusters: int, tau: float) -> np.ndarray:
  """Per-cluster temperature phi of docs/method.md §2 step 4.

  phi_i = mean(sqrt(D)) / log(count + 10) for clusters with more than one
  member, the level's maximum for the rest; clipped to the 10th..90th
  percentiles and rescaled to mean tau.
  """
  counts = np.bincount(assignments, minlength=num_clusters)
  root_sums = np.bincount(assignments,
                          weights=np.sqrt(np.maximum(distances, 0.0)),
                          minlength=num_clusters)
  populated = counts > 1
  if not np.any(populated):
    raise ValueError(f"no cluster of {num_clusters} has more than one member, "
                     "so no temperature can be estimated; use fewer clusters.")
  phi = np.zeros(num_clusters, np.float64)
  phi[populated] = (root_sums[populated] / counts[populated] /
                    np.log(counts[populated] + CONCENTRATION_SMOOTHING))
  phi[~populated] = phi[populated].max()
  low, high = np.percentile(phi, CLIP_PERCENTILES)
  phi = np.clip(phi, low, high)
  mean = phi.mean()
  if not mean > 0:
    raise ValueError("all cluster temperatures are zero (every point sits on "
                     "its centroid); the features have collapsed.")
  return (tau * phi / mean).astype(np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  return (x / np.maximum(norms, 1e-12)).astype(np.float32)


BACKENDS = ("faiss", "jax")


def hierarchical_kmeans(features, num_clusters, tau=0.2, niter=20, nredo=5,
                        max_points_per_centroid=1000,
                        min_points_per_centroid=10,
                        seed=0, backend="faiss") -> ClusterHierarchy:
  """docs/method.md §2 on a float32 numpy [N, d] array.

  ClusterHierarchy has, per level, `centroids` [M_l, d] (normalised),
  `assignments` [N] int32, `temperatures` [M_l]; and for l < L-1 `parents`
  [M_l] int32 and `child_parent_logits` [M_l, M_l+1]. Level l uses k-means seed
  `seed + l`. `backend`: "faiss" (host CPU) or "jax" (the accelerators,
  hcsc_jax.clustering.jax_backend).
  """
  if backend not in BACKENDS:
    raise ValueError(f"backend={backend!r}; choose one of {list(BACKENDS)}.")
  if backend == "jax":
    from hcsc_jax.clustering import jax_backend  # pylint: disable=g-import-not-at-top
    run_kmeans = jax_backend.kmeans
  else:
    run_kmeans = kmeans
  features, counts = _validate(features, num_clusters, tau)
  if niter < 1 or nredo < 1:
    raise ValueError(f"niter and nredo must be >= 1, got {niter}, {nredo}.")
  points = features
  centroids, assignments, temperatures, parents = [], [], [], []
  previous_assignment = None
  for level, k in enumerate(counts):
    raw, nearest, distances = run_kmeans(points, k, seed + level, niter,
                                          nredo, max_points_per_centroid,
                                          min_points_per_centroid)
    temperatures.append(concentration(distances, nearest, k, tau))
    if level == 0:
      assignments.append(nearest)
    else:
      parents.append(nearest)
      assignments.append(nearest[previous_assignment])
    previous_assignment = assignments[-1]
    centroids.append(_normalise(raw))
    points = centroids[-1]
  child_parent_logits = [lower @ upper.T
                         for lower, upper in zip(centroids, centroids[1:])]
  return ClusterHierarchy(centroids=centroids, temperatures=temperatures,
                          assignments=assignments, parents=parents,
                          child_parent_logits=child_parent_logits)
