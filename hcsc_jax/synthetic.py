"""Random but well-formed inputs for the benchmark (and the tests): unit
embeddings and a consistent hierarchy, so the step and the objective can be
timed or checked without a dataset or a clustering pass."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hcsc_jax import prototypes


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
  """[n, d] float32 rows of norm 1."""
  x = rng.normal(size=(n, d))
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_levels(rng: np.random.Generator, num_clusters: Sequence[int],
                  num_examples: int, dim: int, tau: float = 0.2) -> dict:
  """A random but consistent hierarchy as NumPy lists (chained assignments,
  logits from the centroids): the form `prototypes.from_numpy_levels` takes."""
  centroids = [unit_rows(rng, m, dim) for m in num_clusters]
  temperatures = [(tau * rng.uniform(0.5, 1.5, m)).astype(np.float32)
                  for m in num_clusters]
  parents = [rng.integers(0, up, m) for m, up in
             zip(num_clusters[:-1], num_clusters[1:])]
  assignments = [rng.integers(0, num_clusters[0], num_examples)]
  for p in parents:
    assignments.append(p[assignments[-1]])
  logits = [lo @ up.T for lo, up in zip(centroids, centroids[1:])]
  return dict(centroids=centroids, temperatures=temperatures,
              assignments=assignments, parents=parents,
              child_parent_logits=logits)


def random_hierarchy(num_clusters: Sequence[int], num_examples: int,
                     dim: int, seed: int = 0) -> prototypes.HierarchyArrays:
  """`random_levels` as device arrays (on the default device)."""
  levels = random_levels(np.random.default_rng(seed), num_clusters,
                         num_examples, dim)
  return prototypes.from_numpy_levels(**levels)
