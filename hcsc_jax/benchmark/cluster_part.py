"""The `cluster` part: hierarchical k-means on each backend."""

from __future__ import annotations

import time

import numpy as np

from hcsc_jax.benchmark import synthetic


def bench_cluster(args) -> dict[str, float]:
  from hcsc_jax.clustering import hierarchical as clustering  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  centres = synthetic.unit_rows(rng, 1000, args.dim)
  results = {}
  for size in (int(n) for n in args.cluster_sizes.split(",")):
    points = centres[rng.integers(0, 1000, size)] + 0.3 / np.sqrt(
        args.dim) * rng.normal(size=(size, args.dim)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    for backend in args.cluster_backends.split(","):
      start = time.perf_counter()
      clustering.hierarchical_kmeans(points, args.clusters, backend=backend)
      results[f"cluster_{backend}_n{size}"] = time.perf_counter() - start
  return results
