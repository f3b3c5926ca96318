"""Keep-probabilities and selection draws against the float64 reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcsc_jax.method import hierarchy as hierarchy_lib
from hcsc_jax.method import selection
from tests.hierarchy_fixtures import random_hierarchy, unit_rows
from tests import numpy_reference as ref


def test_instance_selection_probs_match_reference():
  rng = np.random.default_rng(0)
  queue = unit_rows(rng, 64, 8)
  centroids = unit_rows(rng, 10, 8)
  temps = rng.uniform(0.05, 0.4, 10).astype(np.float32)
  temps[3] = 1e-5  # exercises the 1e-3 floor
  labels = rng.integers(0, 10, 6)
  got = selection.instance_selection_probs(queue, centroids, temps,
                                           jnp.asarray(labels))
  want = ref.instance_keep_probs(queue, centroids, temps, labels)
  assert got.shape == (6, 64)
  np.testing.assert_allclose(got, want, atol=2e-6)
  assert float(got.max()) <= float(np.float32(0.999)) and float(got.min()) >= 0


def test_cached_normaliser_equals_direct_computation():
  rng = np.random.default_rng(1)
  _, h = random_hierarchy(rng, num_clusters=(12, 6, 3))
  queue = jnp.asarray(unit_rows(rng, 32, 8))
  cache = hierarchy_lib.queue_log_normalizers(queue, h)
  new_rows = jnp.asarray(unit_rows(rng, 8, 8))
  queue = jax.lax.dynamic_update_slice(queue, new_rows, (16, 0))
  cache = hierarchy_lib.refresh_log_normalizers(cache, new_rows, jnp.int32(16), h)
  labels = jnp.asarray([0, 5, 11, 3])
  for level in range(3):
    c, t = h.centroids[level], h.temperatures[level]
    direct = selection.instance_selection_probs(queue, c, t,
                                                labels % c.shape[0])
    cached = selection.instance_keep_probs_cached(
        queue, c, t, labels % c.shape[0], cache[level])
    np.testing.assert_allclose(cached, direct, atol=1e-6)


def test_prototype_selection_probs_match_reference():
  rng = np.random.default_rng(2)
  lower, upper = unit_rows(rng, 12, 8), unit_rows(rng, 5, 8)
  logits = lower @ upper.T
  upper_t = rng.uniform(0.1, 0.3, 5).astype(np.float32)
  parents = rng.integers(0, 5, 7)
  got = selection.prototype_selection_probs(logits, upper_t,
                                            jnp.asarray(parents), tau=0.2)
  want = ref.prototype_keep_probs(logits, upper_t, parents, tau=0.2)
  assert got.shape == (7, 12)
  np.testing.assert_allclose(got, want, atol=2e-6)
  assert float(got.min()) >= 1e-4 - 1e-9


def test_probs_are_jittable():
  rng = np.random.default_rng(3)
  queue, centroids = unit_rows(rng, 16, 4), unit_rows(rng, 5, 4)
  temps = np.full(5, 0.2, np.float32)
  fn = jax.jit(selection.instance_selection_probs)
  out = fn(queue, centroids, temps, jnp.asarray([0, 4]))
  assert out.shape == (2, 16)


@pytest.mark.parametrize("sampler", ["hash", "threefry"])
def test_keep_mask_frequencies_follow_probabilities(sampler):
  probs = jnp.tile(jnp.linspace(0.0, 0.999, 11), (20000, 1))
  keys = jax.random.split(jax.random.key(0), 2)
  mask = selection.sample_keep_mask(keys[0], probs, sampler)
  freq = np.asarray(mask).mean(axis=0)
  # 20000 draws per column: 4 standard errors is below 0.015.
  np.testing.assert_allclose(freq, np.linspace(0.0, 0.999, 11), atol=0.015)
  other = selection.sample_keep_mask(keys[1], probs, sampler)
  agreement = np.mean(np.asarray(mask)[:, 5] == np.asarray(other)[:, 5])
  assert 0.45 < agreement < 0.55  # independent draws at p = 0.5
  again = selection.sample_keep_mask(keys[0], probs, sampler)
  np.testing.assert_array_equal(mask, again)


def test_hash_draws_are_uncorrelated_between_neighbours():
  mask = np.asarray(selection.sample_keep_mask(
      jax.random.key(7), jnp.full((512, 512), 0.5), "hash"), np.float64)
  for a, b in ((mask[:, :-1], mask[:, 1:]), (mask[:-1], mask[1:])):
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert abs(corr) < 0.01


def test_threefry_sampler_is_jax_bernoulli():
  key = jax.random.key(3)
  probs = jnp.full((4, 9), 0.3)
  np.testing.assert_array_equal(
      selection.sample_keep_mask(key, probs, "threefry"),
      jax.random.bernoulli(key, probs))


@pytest.mark.parametrize("call, message", [
    (lambda q, c, t: selection.instance_selection_probs(q, c, t,
                                                        jnp.asarray([0, 9])),
     "labels"),
    (lambda q, c, t: selection.instance_selection_probs(q[0], c, t,
                                                        jnp.asarray([0])),
     "queue must have rank 2"),
    (lambda q, c, t: selection.instance_selection_probs(q, c[:, :3], t,
                                                        jnp.asarray([0])),
     "centroids"),
    (lambda q, c, t: selection.instance_selection_probs(q, c, -t,
                                                        jnp.asarray([0])),
     "temperatures must be positive"),
    (lambda q, c, t: selection.prototype_selection_probs(
        c @ c[:3].T, t[:3], jnp.asarray([3])), "parent_labels"),
    (lambda q, c, t: selection.prototype_selection_probs(
        c @ c[:3].T, t[:4], jnp.asarray([0])), "upper_temperatures"),
    (lambda q, c, t: selection.sample_keep_mask(
        jax.random.key(0), jnp.ones((2, 2)), "numpy"), "sampler"),
])
def test_bad_inputs_raise(call, message):
  rng = np.random.default_rng(4)
  queue, centroids = unit_rows(rng, 16, 4), unit_rows(rng, 5, 4)
  temps = np.full(5, 0.2, np.float32)
  with pytest.raises(ValueError, match=message):
    call(queue, centroids, temps)
