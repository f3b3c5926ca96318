"""Weighted k-nearest-neighbour classification (SPEC Sec. 7).

Cosine similarity of L2-normalised features; each of the k nearest training
examples votes for its label with weight exp(sim / T). Test rows are
processed in chunks on the accelerator, so only [chunk, N] similarities
exist at once.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _normalise(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_accuracy(train_features: np.ndarray, train_labels: np.ndarray,
                 test_features: np.ndarray, test_labels: np.ndarray,
                 ks: Sequence[int] = (10, 20, 100, 200),
                 temperature: float = 0.07, chunk: int = 1024
                 ) -> dict[str, float]:
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
  train = _normalise(jnp.asarray(train_features, jnp.float32))
  labels = jnp.asarray(train_labels, jnp.int32)
  kmax = max(ks)

  @jax.jit
  def predict(queries):
    sims, nearest = jax.lax.top_k(_normalise(queries) @ train.T, kmax)
    weights = jnp.exp(sims / temperature)
    votes = jax.nn.one_hot(labels[nearest], num_classes) * weights[..., None]
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
