"""The epoch's hierarchy as fixed-shape device arrays for the train state.

Shapes depend only on the config (cluster counts, dataset size, embedding
size), never on the clustering result, so pushing a new hierarchy each epoch
is a data change and the train step is compiled once.
"""

from __future__ import annotations

from typing import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax import selection

Array = jax.Array


@flax.struct.dataclass
class HierarchyArrays:
  """Per-level arrays; level 0 is the finest.

  centroids[l] [M_l, d] (L2-normalised), temperatures[l] [M_l],
  assignments[l] [N] int32 (dataset index -> level-l cluster),
  parents[l] [M_l] int32 and child_parent_logits[l] [M_l, M_l+1] for l < L-1.
  """
  centroids: tuple[Array, ...]
  temperatures: tuple[Array, ...]
  assignments: tuple[Array, ...]
  parents: tuple[Array, ...]
  child_parent_logits: tuple[Array, ...]

  @property
  def num_levels(self) -> int:
    return len(self.centroids)

  @property
  def num_clusters(self) -> tuple[int, ...]:
    return tuple(int(c.shape[0]) for c in self.centroids)


def placeholder_hierarchy(num_clusters: Sequence[int], num_examples: int,
                          dim: int, tau: float = 0.2) -> HierarchyArrays:
  """A well-formed stand-in used before the first clustering (warm-up).

  Values are finite and temperatures positive so that nothing computed from it
  is NaN, but it carries no information; the objective ignores it while the
  hierarchy is inactive.
  """
  num_clusters = tuple(int(m) for m in num_clusters)
  unit = jnp.zeros((dim,), jnp.float32).at[0].set(1.0)
  return HierarchyArrays(
      centroids=tuple(jnp.tile(unit, (m, 1)) for m in num_clusters),
      temperatures=tuple(jnp.full((m,), tau, jnp.float32)
                         for m in num_clusters),
      assignments=tuple(jnp.zeros((num_examples,), jnp.int32)
                        for _ in num_clusters),
      parents=tuple(jnp.zeros((m,), jnp.int32) for m in num_clusters[:-1]),
      child_parent_logits=tuple(
          jnp.zeros((m, m_up), jnp.float32)
          for m, m_up in zip(num_clusters[:-1], num_clusters[1:])),
  )


def from_numpy_levels(centroids: Sequence[np.ndarray],
                      temperatures: Sequence[np.ndarray],
                      assignments: Sequence[np.ndarray],
                      parents: Sequence[np.ndarray],
                      child_parent_logits: Sequence[np.ndarray]
                      ) -> HierarchyArrays:
  """Host arrays -> device arrays with the dtypes the train step expects."""
  as_f32 = lambda xs: tuple(jnp.asarray(x, jnp.float32) for x in xs)
  as_i32 = lambda xs: tuple(jnp.asarray(x, jnp.int32) for x in xs)
  return HierarchyArrays(
      centroids=as_f32(centroids), temperatures=as_f32(temperatures),
      assignments=as_i32(assignments), parents=as_i32(parents),
      child_parent_logits=as_f32(child_parent_logits))


def queue_log_normalizers(queue: Array,
                          hierarchy: HierarchyArrays) -> tuple[Array, ...]:
  """Per level, the [K] instance-selection normaliser of every queue row.

  Recompute when the hierarchy changes; between changes only the rows written
  by a step need refreshing (`refresh_log_normalizers`).
  """
  return tuple(
      selection.queue_log_normalizer(queue, c, t)
      for c, t in zip(hierarchy.centroids, hierarchy.temperatures))


def refresh_log_normalizers(cache: tuple[Array, ...], new_rows: Array,
                            pointer: Array,
                            hierarchy: HierarchyArrays) -> tuple[Array, ...]:
  """Writes the normalisers of `new_rows` (just enqueued at `pointer`)."""
  fresh = queue_log_normalizers(new_rows, hierarchy)
  return tuple(
      jax.lax.dynamic_update_slice(old, new, (pointer,))
      for old, new in zip(cache, fresh))
