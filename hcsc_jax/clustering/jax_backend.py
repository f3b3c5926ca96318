"""k-means in JAX on the accelerator: the `jax` clustering backend.

Same contract as faiss's `Clustering` with `IndexFlatL2` as HCSC uses it:
squared-L2 Lloyd iterations from `k` distinct random training points,
`niter` iterations per run, `nredo` runs with different seeds keeping the
lowest objective, at most `k * max_points_per_centroid` training points
(a seeded sample), and empty clusters re-seeded by splitting a cluster
chosen with probability proportional to (size - 1) with faiss's symmetric
1/1024 perturbation. Random draws come from JAX, so results equal faiss's
in quality, not bit for bit.

Points are sharded over the mesh's `data` axis and processed in row chunks,
so only [chunk, k] distances exist at once (1.28M x 3000 fits anywhere).
No faiss and no TensorFlow: it runs on TPUs and bare GPU hosts.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.runtime import sharding

SPLIT_EPS = 1.0 / 1024.0
CHUNK_ROWS = 16384


def _chunked(points: np.ndarray, rows: int, mesh) -> tuple[jax.Array,
                                                          jax.Array]:
  """[C, rows, d] chunks (zero rows padded) and a [C, rows] validity mask,
  rows sharded over the mesh."""
  n, d = points.shape
  count = -(-n // rows)
  padded = np.zeros((count * rows, d), np.float32)
  padded[:n] = points
  valid = np.zeros(count * rows, bool)
  valid[:n] = True
  spec = jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec(None, sharding.DATA_AXIS))
  return (jax.device_put(padded.reshape(count, rows, d), spec),
          jax.device_put(valid.reshape(count, rows), spec))


def _assign(chunks, valid, centroids):
  """Nearest centroid and squared distance of every row, by chunk."""
  norms = jnp.sum(jnp.square(centroids), axis=1)

  def one(chunk):
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, evaluated in float32.
    scores = norms[None, :] - 2.0 * chunk @ centroids.T
    nearest = jnp.argmin(scores, axis=1)
    best = jnp.take_along_axis(scores, nearest[:, None], axis=1)[:, 0]
    return nearest, jnp.maximum(best + jnp.sum(jnp.square(chunk), axis=1),
                                0.0)

  nearest, distances = jax.lax.map(one, chunks)
  return nearest, jnp.where(valid, distances, 0.0)


def _split_empty(centroids, counts, key):
  """faiss's split_clusters: each empty cluster copies a cluster drawn with
  probability (size - 1) / (n - k), both nudged apart symmetrically."""
  k, d = centroids.shape
  sign = jnp.where(jnp.arange(d) % 2 == 0, 1.0, -1.0) * SPLIT_EPS

  def body(ci, carry):
    centroids, counts, key = carry
    key, draw = jax.random.split(key)
    weights = jnp.maximum(counts - 1.0, 0.0)
    cj = jax.random.categorical(draw, jnp.log(weights))
    empty = counts[ci] == 0
    source = centroids[cj]
    new_ci = jnp.where(empty, source * (1.0 + sign), centroids[ci])
    new_cj = jnp.where(empty, source * (1.0 - sign), source)
    centroids = centroids.at[cj].set(new_cj).at[ci].set(new_ci)
    half = jnp.floor(counts[cj] / 2.0)
    counts = jnp.where(empty, counts.at[ci].set(half).at[cj].add(-half),
                       counts)
    return centroids, counts, key

  def split_all(centroids):
    return jax.lax.fori_loop(0, k, body, (centroids, counts, key))[0]
  return jax.lax.cond(jnp.any(counts == 0), split_all, lambda c: c,
                      centroids)


@functools.partial(jax.jit, static_argnames=("k", "niter", "n"))
def _lloyd(chunks, valid, key, k: int, niter: int, n: int):
  """One k-means run: (centroids, objective after the last iteration)."""
  flat = chunks.reshape(-1, chunks.shape[-1])
  init_key, split_key = jax.random.split(key)
  # k distinct valid rows (the padding rows sort last).
  order = jax.random.permutation(init_key, n)
  centroids = flat[order[:k]]

  def iteration(centroids, key):
    nearest, distances = _assign(chunks, valid, centroids)
    weights = valid.reshape(-1).astype(jnp.float32)
    ids = nearest.reshape(-1)
    sums = jax.ops.segment_sum(flat * weights[:, None], ids, k)
    counts = jax.ops.segment_sum(weights, ids, k)
    updated = jnp.where(counts[:, None] > 0,
                        sums / jnp.maximum(counts, 1.0)[:, None], centroids)
    updated = _split_empty(updated, counts, key)
    return updated, jnp.sum(distances)

  keys = jax.random.split(split_key, niter)
  centroids, objectives = jax.lax.scan(iteration, centroids, keys)
  return centroids, objectives[-1]


def kmeans(points: np.ndarray, k: int, seed: int, niter: int, nredo: int,
           max_points_per_centroid: int, min_points_per_centroid: int,
           mesh=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Drop-in for `clustering.kmeans`: (raw centroids [k, d], nearest
  centroid [N] int64, squared distance [N]) of every point."""
  del min_points_per_centroid  # faiss only warns about it
  points = np.ascontiguousarray(points, np.float32)
  # This process's devices only: in a multi-process run the lead process
  # clusters alone and broadcasts the result (see train.Run.cluster).
  mesh = sharding.make_mesh(jax.local_devices()) if mesh is None else mesh
  n = points.shape[0]
  rng = np.random.default_rng(seed)
  training = points
  if n > k * max_points_per_centroid:  # faiss subsamples the same way
    training = points[np.sort(rng.choice(n, k * max_points_per_centroid,
                                         replace=False))]
  rows = min(CHUNK_ROWS, -(-training.shape[0] // mesh.size) * mesh.size)
  rows = -(-rows // mesh.size) * mesh.size
  chunks, valid = _chunked(training, rows, mesh)
  best, best_objective = None, np.inf
  for run in range(nredo):
    centroids, objective = _lloyd(chunks, valid,
                                  jax.random.key(seed * 1000 + run), k,
                                  niter, training.shape[0])
    objective = float(objective)
    if objective < best_objective:
      best, best_objective = centroids, objective
  all_chunks, all_valid = _chunked(points, rows, mesh)
  nearest, distances = jax.jit(_assign)(all_chunks, all_valid, best)
  nearest = np.asarray(nearest).reshape(-1)[:n].astype(np.int64)
  distances = np.asarray(distances).reshape(-1)[:n]
  return np.asarray(best), nearest, distances
