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


def test_score_reads_every_setting_of_a_knn_block():
  rng = np.random.default_rng(1)
  train = (rng.normal(size=(90, 8)).astype(np.float32), rng.integers(0, 3, 90))
  test = (rng.normal(size=(20, 8)).astype(np.float32), rng.integers(0, 3, 20))
  block = knn.config_block(ks=(1, 5), temperature=0.5, chunk=7,
                           train_chunk=13)
  assert knn.score(train, test, block) == knn.knn_accuracy(
      *train, *test, ks=(1, 5), temperature=0.5, chunk=7, train_chunk=13)


def test_config_problems_name_each_bad_field():
  good = knn.config_block()
  assert not knn.config_problems(good, num_examples=1000)
  assert knn.config_problems(good, num_examples=150) == [
      "knn.ks=(10, 20, 100, 200): k=200 exceeds the 150 training examples; "
      "use smaller k."]
  bad = knn.config_block(ks=(0,), temperature=0.0, chunk=0)
  problems = knn.config_problems(bad)
  assert [p.split("=")[0] for p in problems] == [
      "knn.ks", "knn.temperature", "knn.chunk"]


def test_baselines_command_scores_raw_pixels_and_a_random_encoder(tmp_path):
  """Images whose class is a bright band at its own rows: raw pixels
  separate them perfectly, so a wrong pixel path (labels, order, padding)
  shows as an accuracy below 1."""
  from hcsc_jax.data.datasets import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import idx  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import knn_baselines  # pylint: disable=g-import-not-at-top
  from tests.trainer_fixtures import device_smoke_config  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  for split, count in (("train", 60), ("test", 20)):
    labels = np.arange(count) % 10
    images = rng.integers(0, 40, (count, 28, 28)).astype(np.uint8)
    for n, label in enumerate(labels):
      images[n, 2 * label + 4:2 * label + 7] = 255
    images_name, labels_name = fashion_mnist_files.FILES[split]
    idx.write_idx(str(tmp_path / images_name), images)
    idx.write_idx(str(tmp_path / labels_name), labels)
  config = device_smoke_config(str(tmp_path), embed_batch_size=16,
                               **{"knn.ks": (1, 3)})
  pixels, random_encoder = knn_baselines.baselines(config)
  assert pixels["baseline"] == "raw_pixels"
  assert pixels["knn_top1_k1"] == 1.0 and pixels["knn_top1"] == 1.0
  assert random_encoder["baseline"] == "random_encoder"
  assert random_encoder["seed"] == config.seed
  assert 0.0 <= random_encoder["knn_top1"] <= 1.0
