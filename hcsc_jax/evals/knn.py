"""Weighted k-nearest-neighbour classification (docs/method.md §7).

Cosine similarity of L2-normalised features; each of the k nearest training
examples votes for its label with weight exp(sim / T). Test rows go through
in chunks and, for each chunk, the training set is scanned in chunks too,
keeping a running top-k, so only [test_chunk, train_chunk] similarities
exist at once and 1.28M x 50k fits on one accelerator.

Settings come from one `knn` config block (`config_block`), the same in
pre-training configs (online kNN, plus `enabled`) and evaluation configs;
`score` is the one way the trainer, `evaluate` and the tools call it.

Ties: among equal similarities the lower training index is the nearer one
(as a stable sort would order them); among equal vote totals the lower class
wins.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np


def config_block(**fields) -> ml_collections.ConfigDict:
  """The `knn` settings: neighbour counts, vote temperature, and how many
  test (`chunk`) and training (`train_chunk`) rows meet at once."""
  return ml_collections.ConfigDict(dict(
      dict(ks=(10, 20, 100, 200), temperature=0.07, chunk=1024,
           train_chunk=65536), **fields))


def config_problems(block, num_examples: int | None = None) -> list[str]:
  """Problems of a `knn` block, each naming its field; `num_examples` (the
  training split's size, when known) bounds k."""
  problems = []
  ks = tuple(block.ks)
  if not ks or min(ks) < 1:
    problems.append(f"knn.ks={ks} must be positive neighbour counts.")
  elif num_examples is not None and max(ks) > num_examples:
    problems.append(f"knn.ks={ks}: k={max(ks)} exceeds the {num_examples} "
                    "training examples; use smaller k.")
  if not block.temperature > 0:
    problems.append(f"knn.temperature={block.temperature} must be > 0.")
  for field in ("chunk", "train_chunk"):
    if int(block[field]) < 1:
      problems.append(f"knn.{field}={block[field]} must be at least 1.")
  return problems


def _normalise(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _padded_chunks(array: np.ndarray, chunk: int, fill) -> np.ndarray:
  """[num_chunks, chunk, ...] with the last chunk padded by `fill`."""
  count = -(-array.shape[0] // chunk)
  out = np.full((count * chunk,) + array.shape[1:], fill, array.dtype)
  out[:array.shape[0]] = array
  return out.reshape((count, chunk) + array.shape[1:])


def _nearest(queries, train_chunks, label_chunks, kmax: int):
  """(similarities, labels) of the kmax nearest training rows, nearest
  first, for normalised [Q, D] queries; a scan over training chunks."""
  init = (jnp.full((queries.shape[0], kmax), -jnp.inf, jnp.float32),
          jnp.zeros((queries.shape[0], kmax), jnp.int32))

  def merge(best, chunk):
    train, labels = chunk
    sims = queries @ train.T  # padded rows are zero vectors ...
    sims = jnp.where(labels[None, :] < 0, -jnp.inf, sims)  # ... masked here
    top_sims, top_pos = jax.lax.top_k(sims, min(kmax, sims.shape[1]))
    # Running best first: on equal similarity it holds the lower index, and
    # top_k keeps the earlier of equal values.
    both_sims = jnp.concatenate([best[0], top_sims], axis=1)
    both_labels = jnp.concatenate([best[1], labels[top_pos]], axis=1)
    keep_sims, keep = jax.lax.top_k(both_sims, kmax)
    return (keep_sims, jnp.take_along_axis(both_labels, keep, axis=1)), None

  best, _ = jax.lax.scan(merge, init, (train_chunks, label_chunks))
  return best


def knn_accuracy(train_features: np.ndarray, train_labels: np.ndarray,
                 test_features: np.ndarray, test_labels: np.ndarray,
                 ks: Sequence[int] = (10, 20, 100, 200),
                 temperature: float = 0.07, chunk: int = 1024,
                 train_chunk: int = 65536) -> dict[str, float]:
  """Top-1 and top-5 accuracy for each k, plus the best top-1 over ks."""
  ks = tuple(int(k) for k in ks)
  if not ks or min(ks) < 1:
    raise ValueError(f"ks must be positive, got {ks}.")
  if max(ks) > train_features.shape[0]:
    raise ValueError(f"k={max(ks)} exceeds the {train_features.shape[0]} "
                     "training examples.")
  if train_labels.min() < 0:
    raise ValueError("training labels are missing (negative); kNN needs a "
                     "labelled data set.")
  num_classes = int(max(train_labels.max(), test_labels.max())) + 1
  kmax = max(ks)
  train_chunk = max(1, min(train_chunk, train_features.shape[0]))
  train = _padded_chunks(np.asarray(train_features, np.float32), train_chunk,
                         0.0)
  labels = _padded_chunks(np.asarray(train_labels, np.int32), train_chunk, -1)
  train = jax.vmap(_normalise)(jnp.asarray(train))
  labels = jnp.asarray(labels)

  @jax.jit
  def predict(queries):
    sims, nearest_labels = _nearest(_normalise(queries), train, labels, kmax)
    weights = jnp.exp(sims / temperature)
    votes = jax.nn.one_hot(nearest_labels, num_classes) * weights[..., None]
    ranked = [jax.lax.top_k(jnp.sum(votes[:, :k], axis=1),
                            min(5, num_classes))[1] for k in ks]
    return jnp.stack(ranked)  # [len(ks), chunk, 5]

  correct1 = np.zeros(len(ks))
  correct5 = np.zeros(len(ks))
  for start in range(0, test_features.shape[0], chunk):
    stop = min(start + chunk, test_features.shape[0])
    block = np.zeros((chunk, test_features.shape[1]), np.float32)
    block[:stop - start] = test_features[start:stop]
    ranked = np.asarray(predict(jnp.asarray(block)))[:, :stop - start]
    truth = test_labels[start:stop]
    correct1 += np.sum(ranked[..., 0] == truth, axis=1)
    correct5 += np.sum(np.any(ranked == truth[None, :, None], axis=2), axis=1)
  total = test_features.shape[0]
  results = {}
  for i, k in enumerate(ks):
    results[f"knn_top1_k{k}"] = correct1[i] / total
    results[f"knn_top5_k{k}"] = correct5[i] / total
  results["knn_top1"] = max(results[f"knn_top1_k{k}"] for k in ks)
  return results


def score(train: tuple[np.ndarray, np.ndarray],
          test: tuple[np.ndarray, np.ndarray], block) -> dict[str, float]:
  """`knn_accuracy` of (features, labels) pairs with a `knn` block's
  settings."""
  return knn_accuracy(train[0], train[1], test[0], test[1],
                      ks=tuple(block.ks), temperature=block.temperature,
                      chunk=block.chunk, train_chunk=block.train_chunk)
