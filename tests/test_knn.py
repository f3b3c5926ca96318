"""Weighted kNN against an independent NumPy implementation."""

import numpy as np
import pytest

from hcsc_jax.evals import knn


def _numpy_knn(train, train_labels, test, k, temperature, classes):
  train = train / np.linalg.norm(train, axis=1, keepdims=True)
  test = test / np.linalg.norm(test, axis=1, keepdims=True)
  predictions = []
  for row in test:
    sims = train @ row
    nearest = np.argsort(-sims, kind="stable")[:k]
    votes = np.zeros(classes)
    for j in nearest:
      votes[train_labels[j]] += np.exp(sims[j] / temperature)
    predictions.append(np.argmax(votes))
  return np.array(predictions)


def test_matches_numpy_and_chunks_do_not_matter():
  rng = np.random.default_rng(0)
  train = rng.normal(size=(300, 16)).astype(np.float32)
  labels = rng.integers(0, 5, 300)
  test = rng.normal(size=(70, 16)).astype(np.float32)
  test_labels = rng.integers(0, 5, 70)
  got = knn.knn_accuracy(train, labels, test, test_labels, ks=(1, 7, 50),
                         temperature=0.07, chunk=32)
  for k in (1, 7, 50):
    want = np.mean(_numpy_knn(train, labels, test, k, 0.07, 5) == test_labels)
    assert got[f"knn_top1_k{k}"] == pytest.approx(want)
  other = knn.knn_accuracy(train, labels, test, test_labels, ks=(1, 7, 50),
                           chunk=1000, train_chunk=300)
  assert other == got
  # k=50 spans several training chunks of 16 rows (the last one padded).
  small = knn.knn_accuracy(train, labels, test, test_labels, ks=(1, 7, 50),
                           chunk=32, train_chunk=16)
  assert small == got
  assert got["knn_top1"] == max(got[f"knn_top1_k{k}"] for k in (1, 7, 50))


def test_ties_prefer_lower_training_index():
  """Duplicated training rows with different labels tie exactly; the
  nearer one is the lower index, as in a stable sort, whatever the chunks."""
  rng = np.random.default_rng(2)
  distinct = rng.normal(size=(40, 8)).astype(np.float32)
  train = np.repeat(distinct, 3, axis=0)  # each row three times
  labels = rng.integers(0, 4, train.shape[0])
  test = distinct[rng.integers(0, 40, 60)] + 0.01 * rng.normal(
      size=(60, 8)).astype(np.float32)
  test_labels = rng.integers(0, 4, 60)
  for train_chunk in (4, 7, 120):
    got = knn.knn_accuracy(train, labels, test, test_labels, ks=(1, 2, 5),
                           chunk=16, train_chunk=train_chunk)
    for k in (1, 2, 5):
      want = np.mean(_numpy_knn(train, labels, test, k, 0.07, 4)
                     == test_labels)
      assert got[f"knn_top1_k{k}"] == pytest.approx(want), (train_chunk, k)


def test_separable_data_is_classified_perfectly():
  rng = np.random.default_rng(1)
  centres = np.eye(4, 8) * 10
  labels = np.repeat(np.arange(4), 25)
  train = centres[labels] + rng.normal(size=(100, 8))
  test = centres[labels] + rng.normal(size=(100, 8))
  out = knn.knn_accuracy(train, labels, test, labels, ks=(5,))
  assert out["knn_top1"] == 1.0 and out["knn_top5_k5"] == 1.0


def test_bad_inputs():
  x = np.ones((4, 3), np.float32)
  with pytest.raises(ValueError, match="exceeds"):
    knn.knn_accuracy(x, np.zeros(4, int), x, np.zeros(4, int), ks=(10,))
  with pytest.raises(ValueError, match="labelled"):
    knn.knn_accuracy(x, -np.ones(4, int), x, np.zeros(4, int), ks=(2,))
