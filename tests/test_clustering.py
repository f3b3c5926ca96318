"""Hierarchical k-means: planted clusters, formula, determinism, bad input."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from hcsc_jax.clustering import hierarchical as clustering
from tests import numpy_reference as ref


def _planted(seed=0, clusters=8, per_cluster=150, dim=16, spread=0.05):
  rng = np.random.default_rng(seed)
  # Orthonormal centres: every pair is equally and clearly separated.
  centers = np.linalg.qr(rng.normal(size=(dim, dim)))[0][:clusters]
  labels = np.repeat(np.arange(clusters), per_cluster)
  x = centers[labels] + spread * rng.normal(size=(labels.size, dim))
  x /= np.linalg.norm(x, axis=1, keepdims=True)
  return x.astype(np.float32), labels


def test_recovers_planted_clusters_and_structure():
  x, labels = _planted()
  h = clustering.hierarchical_kmeans(x, (8, 4, 2))
  assert adjusted_rand_score(labels, h.assignments[0]) == pytest.approx(1.0)
  assert [c.shape for c in h.centroids] == [(8, 16), (4, 16), (2, 16)]
  for level in range(3):
    np.testing.assert_allclose(np.linalg.norm(h.centroids[level], axis=1),
                               1.0, rtol=1e-5)
    assert h.assignments[level].shape == (x.shape[0],)
    assert h.temperatures[level].dtype == np.float32
    np.testing.assert_allclose(h.temperatures[level].mean(), 0.2, rtol=1e-5)
  for level in range(2):
    np.testing.assert_array_equal(
        h.assignments[level + 1], h.parents[level][h.assignments[level]])
    np.testing.assert_allclose(h.child_parent_logits[level],
                               h.centroids[level] @ h.centroids[level + 1].T,
                               rtol=1e-6)
  # Each point's level-0 centroid is its nearest normalised centroid too.
  nearest = np.argmax(x @ h.centroids[0].T, axis=1)
  np.testing.assert_array_equal(nearest, h.assignments[0])


def test_parents_are_nearest_upper_centroids():
  x, _ = _planted(seed=1, clusters=12, per_cluster=60)
  h = clustering.hierarchical_kmeans(x, (12, 5), nredo=2)
  # Upper centroids are normalised raw centroids; nearest raw = best cosine
  # only up to their norms, so check that parents group similar children.
  within = [h.child_parent_logits[0][i, h.parents[0][i]] for i in range(12)]
  assert np.mean(within) > np.mean(h.child_parent_logits[0])


def test_temperature_formula_matches_loop_reference():
  rng = np.random.default_rng(2)
  assignments = rng.integers(0, 30, 500)
  assignments[assignments == 7] = 8  # an empty cluster
  assignments[0] = 7                 # ... with a single member
  distances = rng.uniform(0.0, 2.0, 500)
  got = clustering.concentration(distances, assignments, 30, 0.2)
  want = ref.concentration(distances, assignments, 30, 0.2)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  assert got.mean() == pytest.approx(0.2, rel=1e-6)


def test_deterministic_for_a_seed_and_seed_matters():
  x, _ = _planted(seed=3, clusters=30, per_cluster=20, dim=32, spread=0.4)
  a = clustering.hierarchical_kmeans(x, (30, 10), seed=0, nredo=1)
  b = clustering.hierarchical_kmeans(x, (30, 10), seed=0, nredo=1)
  c = clustering.hierarchical_kmeans(x, (30, 10), seed=5, nredo=1)
  for level in range(2):
    np.testing.assert_array_equal(a.assignments[level], b.assignments[level])
    np.testing.assert_array_equal(a.centroids[level], b.centroids[level])
    np.testing.assert_array_equal(a.temperatures[level],
                                  b.temperatures[level])
  assert not np.array_equal(a.centroids[0], c.centroids[0])


def test_to_device_has_fixed_dtypes_and_shapes():
  x, _ = _planted(seed=4)
  arrays = clustering.hierarchical_kmeans(x, (8, 4), nredo=1).to_device()
  assert arrays.num_clusters == (8, 4)
  assert arrays.assignments[0].dtype == np.int32
  assert arrays.centroids[1].shape == (4, 16)
  assert arrays.child_parent_logits[0].shape == (8, 4)


@pytest.mark.parametrize("features, clusters, message", [
    (np.zeros((10,), np.float32), (4,), "features must be a"),
    (np.full((50, 4), np.nan, np.float32), (4,), "NaN"),
    (np.ones((50, 4), np.int32), (4,), "floating point"),
    (np.random.default_rng(0).normal(size=(5, 4)), (8,), "at least as many"),
    (np.random.default_rng(0).normal(size=(50, 4)), (8, 8), "strictly"),
    (np.random.default_rng(0).normal(size=(50, 4)), (4, 8), "strictly"),
    (np.random.default_rng(0).normal(size=(50, 4)), (), "empty"),
    (np.random.default_rng(0).normal(size=(50, 4)), (0,), "positive"),
])
def test_bad_inputs_raise(features, clusters, message):
  with pytest.raises(ValueError, match=message):
    clustering.hierarchical_kmeans(features, clusters)


def test_non_positive_tau_raises():
  with pytest.raises(ValueError, match="tau"):
    clustering.hierarchical_kmeans(_planted()[0], (8,), tau=0.0)


def _blobs(seed=0, n=6000, k=40, dim=32, spread=0.5):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(k, dim))
  labels = rng.integers(0, k, n)
  x = (centres[labels] + spread * rng.normal(size=(n, dim))).astype(np.float32)
  return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def test_jax_backend_objective_within_one_percent_of_faiss():
  from hcsc_jax.clustering import jax_backend  # pylint: disable=g-import-not-at-top
  for points, k in ((_blobs()[0], 40),
                    (np.random.default_rng(1).normal(size=(3000, 16)).astype(
                        np.float32), 150)):
    _, _, faiss_d = clustering.kmeans(points, k, 0, 20, 3, 1000, 10)
    _, nearest, jax_d = jax_backend.kmeans(points, k, 0, 20, 3, 1000, 10)
    assert jax_d.sum() <= 1.01 * faiss_d.sum(), (jax_d.sum(), faiss_d.sum())
    # distances are those of each point to its assigned centroid
    assert nearest.shape == (points.shape[0],) and nearest.max() < k


def test_jax_backend_recovers_planted_clusters():
  from hcsc_jax.clustering import jax_backend  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(2)
  labels = rng.integers(0, 6, 1200)
  points = (np.eye(6, 16)[labels] + 0.05 * rng.normal(size=(1200, 16))
            ).astype(np.float32)
  _, nearest, _ = jax_backend.kmeans(points, 6, 0, 20, 5, 1000, 10)
  # each planted cluster maps to exactly one found cluster and vice versa
  pairs = {(a, b) for a, b in zip(labels, nearest)}
  assert len(pairs) == 6 == len(set(nearest))


def test_jax_backend_splits_empty_clusters():
  """10 locations x 20 copies: random initial centroids repeat, so some
  clusters start empty; splitting must still give each location its own."""
  from hcsc_jax.clustering import jax_backend  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(3)
  locations = rng.normal(size=(10, 8)).astype(np.float32) * 10
  points = np.repeat(locations, 20, axis=0)
  _, nearest, distances = jax_backend.kmeans(points, 10, 0, 30, 1, 1000, 10)
  assert len(set(nearest)) == 10
  assert float(distances.max()) < 1e-3


def test_hierarchy_from_jax_backend_is_consistent():
  points, _ = _blobs(seed=4, n=1500, k=20, dim=16)
  h = clustering.hierarchical_kmeans(points, (20, 6), nredo=1, niter=10,
                                     backend="jax")
  assert [c.shape for c in h.centroids] == [(20, 16), (6, 16)]
  np.testing.assert_array_equal(h.assignments[1],
                                h.parents[0][h.assignments[0]])
  assert all(np.all(t > 0) for t in h.temperatures)
  with pytest.raises(ValueError, match="backend='gpu'"):
    clustering.hierarchical_kmeans(points, (20, 6), backend="gpu")


class _FakeFaiss:
  """Stands in for a faiss build; `gpus` is what get_num_gpus reports."""

  def __init__(self, gpus):
    self.gpus = gpus
    self.made = []

  def get_num_gpus(self):
    return self.gpus

  def IndexFlatL2(self, dim):  # pylint: disable=invalid-name
    self.made.append(("cpu", dim))
    return "cpu-index"

  def StandardGpuResources(self):  # pylint: disable=invalid-name
    return "resources"

  class GpuIndexFlatConfig:
    device = None

  def GpuIndexFlatL2(self, resources, dim, config):  # pylint: disable=invalid-name
    self.made.append(("gpu", dim, resources, config.device))
    return "gpu-index"


@pytest.mark.parametrize("gpus, want", [(0, "cpu"), (2, "gpu")])
def test_faiss_index_goes_to_a_gpu_when_the_build_sees_one(gpus, want,
                                                           monkeypatch):
  monkeypatch.setattr(clustering, "_GPU_RESOURCES", [])
  fake = _FakeFaiss(gpus)
  index, where = clustering.flat_l2_index(fake, 16)
  assert where == want and index == f"{want}-index"
  if want == "gpu":
    assert fake.made == [("gpu", 16, "resources", 0)]
  else:
    assert fake.made == [("cpu", 16)]


def test_this_faiss_build_clusters_on_the_cpu():
  import faiss  # pylint: disable=g-import-not-at-top
  _, where = clustering.flat_l2_index(faiss, 8)
  assert where == ("gpu" if faiss.get_num_gpus() > 0 else "cpu")
