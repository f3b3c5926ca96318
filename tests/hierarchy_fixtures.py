"""Small random hierarchies and embeddings for the math tests."""

import numpy as np

from hcsc_jax import prototypes


def unit_rows(rng, n, d):
  x = rng.normal(size=(n, d))
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_hierarchy(rng, num_clusters=(12, 6, 3), num_examples=40, dim=8,
                     tau=0.2):
  """A consistent hierarchy: chained assignments, logits from centroids."""
  centroids = [unit_rows(rng, m, dim) for m in num_clusters]
  temperatures = [(tau * rng.uniform(0.5, 1.5, m)).astype(np.float32)
                  for m in num_clusters]
  parents = [rng.integers(0, up, m) for m, up in
             zip(num_clusters[:-1], num_clusters[1:])]
  assignments = [rng.integers(0, num_clusters[0], num_examples)]
  for p in parents:
    assignments.append(p[assignments[-1]])
  logits = [lo @ up.T for lo, up in zip(centroids, centroids[1:])]
  as_dict = dict(centroids=centroids, temperatures=temperatures,
                 assignments=assignments, parents=parents,
                 child_parent_logits=logits)
  arrays = prototypes.from_numpy_levels(centroids, temperatures, assignments,
                                        parents, logits)
  return as_dict, arrays
