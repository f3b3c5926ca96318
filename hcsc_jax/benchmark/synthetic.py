"""Random but well-formed inputs for the benchmark (and the tests): unit
embeddings and a consistent hierarchy, so the step and the objective can be
timed or checked without a dataset or a clustering pass."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hcsc_jax.method import hierarchy as hierarchy_lib


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
  """[n, d] float32 rows of norm 1."""
  x = rng.normal(size=(n, d))
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_host_hierarchy(rng: np.random.Generator,
                          num_clusters: Sequence[int], num_examples: int,
                          dim: int, tau: float = 0.2
                          ) -> hierarchy_lib.ClusterHierarchy:
  """A random but consistent hierarchy on the host (chained assignments,
  logits from the centroids)."""
  centroids = [unit_rows(rng, m, dim) for m in num_clusters]
  temperatures = [(tau * rng.uniform(0.5, 1.5, m)).astype(np.float32)
                  for m in num_clusters]
  parents = [rng.integers(0, up, m) for m, up in
             zip(num_clusters[:-1], num_clusters[1:])]
  assignments = [rng.integers(0, num_clusters[0], num_examples)]
  for p in parents:
    assignments.append(p[assignments[-1]])
  logits = [lo @ up.T for lo, up in zip(centroids, centroids[1:])]
  return hierarchy_lib.ClusterHierarchy(
      centroids=centroids, temperatures=temperatures,
      assignments=assignments, parents=parents, child_parent_logits=logits)


def random_hierarchy(num_clusters: Sequence[int], num_examples: int,
                     dim: int, seed: int = 0) -> hierarchy_lib.HierarchyArrays:
  """`random_host_hierarchy` as device arrays (on the default device)."""
  return random_host_hierarchy(np.random.default_rng(seed), num_clusters,
                               num_examples, dim).to_device()
