"""Nearest neighbours of every image among all the others, on L2-normalised
features: the graph labels spread along (`predictors.spread`) and the
balls ProbCover covers (`next_batch.probcover`).

Exact search in blocks of rows, so only [block, N] similarities exist at
once; faiss (when installed) does the same search faster on the host.
"""

from __future__ import annotations

import dataclasses

import numpy as np

BLOCK = 1024
# Above this many images the neighbour graph is searched approximately
# (faiss IVF: EXACT_LIMIT rows cost minutes exactly, a million hours).
EXACT_LIMIT = 200_000
IVF_PROBES = 16


def unit(x) -> np.ndarray:
  x = np.asarray(x, np.float32)
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclasses.dataclass
class Graph:
  """Each image's `k` nearest other images, nearest first."""
  indices: np.ndarray       # [N, k] int64
  similarities: np.ndarray  # [N, k] float32 cosine


def _faiss():
  try:
    import faiss  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  return faiss


def knn_graph(features: np.ndarray, k: int) -> Graph:
  """The k nearest neighbours of every row (itself excluded) by cosine
  similarity; `features` need not be normalised. Exact up to EXACT_LIMIT
  rows, approximate above (faiss IVF, IVF_PROBES of 4 sqrt(N) lists)."""
  points = unit(features)
  count = points.shape[0]
  k = int(min(k, count - 1))
  if k < 1:
    raise ValueError("a neighbour graph needs at least two images.")
  faiss = _faiss()
  if faiss is not None and count > EXACT_LIMIT:
    lists = int(4 * np.sqrt(count))
    quantizer = faiss.IndexFlatIP(points.shape[1])
    index = faiss.IndexIVFFlat(quantizer, points.shape[1], lists,
                               faiss.METRIC_INNER_PRODUCT)
    index.train(points[np.random.default_rng(0).choice(
        count, min(count, 256 * lists), replace=False)])
    index.add(points)
    index.nprobe = IVF_PROBES
    sims, rows = index.search(points, k + 1)
    rows = np.where(rows < 0, np.arange(count)[:, None], rows)
  elif faiss is not None:
    index = faiss.IndexFlatIP(points.shape[1])
    index.add(points)
    sims, rows = index.search(points, k + 1)
  else:
    sims = np.empty((count, k + 1), np.float32)
    rows = np.empty((count, k + 1), np.int64)
    for start in range(0, count, BLOCK):
      block = points[start:start + BLOCK] @ points.T
      top = np.argpartition(-block, k, axis=1)[:, :k + 1]
      top_sims = np.take_along_axis(block, top, axis=1)
      order = np.argsort(-top_sims, axis=1, kind="stable")
      rows[start:start + BLOCK] = np.take_along_axis(top, order, axis=1)
      sims[start:start + BLOCK] = np.take_along_axis(top_sims, order, axis=1)
  # Drop each row itself (usually first; a duplicate image may come first).
  own = rows == np.arange(count)[:, None]
  drop = np.where(own.any(axis=1), np.argmax(own, axis=1), k)
  keep = np.ones_like(own)
  keep[np.arange(count), drop] = False
  return Graph(rows[keep].reshape(count, k).astype(np.int64),
               sims[keep].reshape(count, k).astype(np.float32))


def nearest_other_cluster(features: np.ndarray, clusters: np.ndarray
                          ) -> np.ndarray:
  """[N] each row's Euclidean distance (of the normalised features) to the
  nearest row of another cluster."""
  points = unit(features)
  clusters = np.asarray(clusters)
  out = np.full(points.shape[0], np.inf, np.float32)
  for start in range(0, points.shape[0], BLOCK):
    block = points[start:start + BLOCK] @ points.T
    same = clusters[start:start + BLOCK, None] == clusters[None, :]
    block[same] = -np.inf
    out[start:start + BLOCK] = np.sqrt(np.maximum(
        2.0 - 2.0 * block.max(axis=1), 0.0))
  return out


def radius_graph(features: np.ndarray, radius: float
                 ) -> tuple[np.ndarray, np.ndarray]:
  """CSR (indptr, indices) of the pairs closer than `radius` (Euclidean,
  normalised features), each row's own index included: a symmetric
  graph."""
  points = unit(features)
  threshold = 1.0 - radius * radius / 2.0  # ||x-y||^2 = 2 - 2 cos
  counts, parts = [], []
  for start in range(0, points.shape[0], BLOCK):
    block = points[start:start + BLOCK] @ points.T
    rows, cols = np.nonzero(block > threshold)
    counts.append(np.bincount(rows, minlength=block.shape[0]))
    parts.append(cols.astype(np.int32))
  indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
  return indptr.astype(np.int64), np.concatenate(parts)
