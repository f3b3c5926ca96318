"""Small random hierarchies and embeddings for the math tests."""

import numpy as np

from hcsc_jax import prototypes


def unit_rows(rng, n, d):
  x = rng.normal(size=(n, d))
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_hierarchy(rng, num_clusters=(12, 6, 3), num_examples=40, dim=8,
                     tau=0.2):
  """(NumPy levels for the reference, the same as device arrays)."""
  levels = prototypes.random_levels(rng, num_clusters, num_examples, dim, tau)
  return levels, prototypes.from_numpy_levels(**levels)
