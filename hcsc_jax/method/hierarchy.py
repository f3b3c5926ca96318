"""The epoch's hierarchy of prototypes, in one shape with two homes.

`ClusterHierarchy` is the host form (NumPy lists, what clustering returns);
`HierarchyArrays` the device form kept in the train state (tuples of jax
arrays). Both have the same fields in the same order and the same dtypes
(float32 values, int32 ids), so moving between them is a copy, not a
conversion.

Shapes depend only on the config (cluster counts, dataset size, embedding
size), never on the clustering result, so pushing a new hierarchy each epoch
is a data change and the train step is compiled once.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.method import selection

Array = jax.Array
FIELDS = ("centroids", "temperatures", "assignments", "parents",
          "child_parent_logits")
_IDS = ("assignments", "parents")  # int32; every other field is float32


def _dtype(field: str):
  return np.int32 if field in _IDS else np.float32


class _Levels:
  """Sizes shared by both forms."""

  @property
  def num_levels(self) -> int:
    return len(self.centroids)

  @property
  def num_clusters(self) -> tuple[int, ...]:
    return tuple(int(c.shape[0]) for c in self.centroids)


@dataclasses.dataclass(frozen=True)
class ClusterHierarchy(_Levels):
  """The epoch's prototypes on the host, one list entry per level (0 =
  finest).

  centroids[l] [M_l, d] float32, L2-normalised; temperatures[l] [M_l]
  float32; assignments[l] [N] int32 (dataset index -> level-l cluster);
  parents[l] [M_l] int32 and child_parent_logits[l] [M_l, M_l+1] float32
  for l < L-1.
  """
  centroids: list[np.ndarray]
  temperatures: list[np.ndarray]
  assignments: list[np.ndarray]
  parents: list[np.ndarray]
  child_parent_logits: list[np.ndarray]

  def __post_init__(self):
    for field in FIELDS:
      object.__setattr__(self, field, [
          np.asarray(x, _dtype(field)) for x in getattr(self, field)])

  def as_tree(self) -> HierarchyArrays:
    """The train state's form with the NumPy arrays as leaves (what is
    broadcast to the other processes and pushed into the state)."""
    return HierarchyArrays(**{field: tuple(getattr(self, field))
                              for field in FIELDS})

  def to_device(self) -> HierarchyArrays:
    """The train state's form (on the default device)."""
    return jax.tree.map(jnp.asarray, self.as_tree())


@flax.struct.dataclass
class HierarchyArrays(_Levels):
  """`ClusterHierarchy` on the devices, as the train state holds it:
  the same fields, order and dtypes, as tuples of jax arrays."""
  centroids: tuple[Array, ...]
  temperatures: tuple[Array, ...]
  assignments: tuple[Array, ...]
  parents: tuple[Array, ...]
  child_parent_logits: tuple[Array, ...]

  def to_host(self) -> ClusterHierarchy:
    """NumPy copies (for statistics and figures)."""
    fetched = jax.device_get(self)
    return ClusterHierarchy(**{field: list(getattr(fetched, field))
                               for field in FIELDS})


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
