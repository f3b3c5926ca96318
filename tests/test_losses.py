"""InfoNCE / ProtoNCE values and gradients against the float64 reference."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcsc_jax.method import losses
from tests.hierarchy_fixtures import unit_rows
from tests import numpy_reference as ref

B, K, D, M = 6, 20, 8, 9


@pytest.fixture(name="data")
def _data():
  rng = np.random.default_rng(0)
  return dict(q=unit_rows(rng, B, D), k=unit_rows(rng, B, D),
              queue=unit_rows(rng, K, D), centroids=unit_rows(rng, M, D),
              temps=rng.uniform(0.1, 0.3, M).astype(np.float32),
              labels=np.array([0, 3, 3, 8, 1, 0]),
              keep=rng.uniform(size=(B, K)) < 0.6,
              proto_keep=rng.uniform(size=(B, M)) < 0.6)


@pytest.mark.parametrize("masking, masked",
                         list(itertools.product(["zero", "remove"], [False, True])))
def test_info_nce_values_and_gradients(data, masking, masked):
  keep = data["keep"] if masked else None
  got = losses.info_nce(data["q"], data["k"], data["queue"],
                        None if keep is None else jnp.asarray(keep),
                        0.2, masking)
  want = ref.info_nce(data["q"], data["k"], data["queue"], keep, 0.2, masking)
  np.testing.assert_allclose(got, want, rtol=2e-5)

  grad = jax.grad(lambda q: jnp.sum(losses.info_nce(
      q, data["k"], data["queue"],
      None if keep is None else jnp.asarray(keep), 0.2, masking)))(
          jnp.asarray(data["q"]))
  numeric = ref.numerical_gradient(lambda q: ref.info_nce(
      q, data["k"], data["queue"], keep, 0.2, masking).sum(), data["q"])
  np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("masking, rule, masked", list(itertools.product(
    ["zero", "remove"], ["batch", "self"], [False, True])))
def test_proto_nce_values_and_gradients(data, masking, rule, masked):
  keep = data["proto_keep"] if masked else None
  cand = losses.candidate_mask(jnp.asarray(data["labels"]), M, rule)
  np.testing.assert_array_equal(cand,
                                ref.candidate_mask(data["labels"], M, rule))

  def jax_loss(q):
    return losses.proto_nce(q, data["centroids"], data["temps"],
                            jnp.asarray(data["labels"]), cand,
                            None if keep is None else jnp.asarray(keep),
                            masking)

  want = ref.proto_nce(data["q"], data["centroids"], data["temps"],
                       data["labels"], np.asarray(cand), keep, masking)
  np.testing.assert_allclose(jax_loss(jnp.asarray(data["q"])), want,
                             rtol=2e-5)
  grad = jax.grad(lambda q: jnp.sum(jax_loss(q)))(jnp.asarray(data["q"]))
  numeric = ref.numerical_gradient(lambda q: ref.proto_nce(
      q, data["centroids"], data["temps"], data["labels"], np.asarray(cand),
      keep, masking).sum(), data["q"])
  np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3)


def test_positive_is_never_a_negative(data):
  everything = jnp.ones((B, M), bool)
  with_positive = losses.proto_nce(data["q"], data["centroids"], data["temps"],
                                   jnp.asarray(data["labels"]), everything)
  without = losses.proto_nce(
      data["q"], data["centroids"], data["temps"],
      jnp.asarray(data["labels"]),
      losses.candidate_mask(jnp.asarray(data["labels"]), M, "self"))
  np.testing.assert_allclose(with_positive, without, rtol=1e-6)


def test_zero_masking_keeps_denominator_terms(data):
  drop_all = jnp.zeros((B, K), bool)
  zero = losses.info_nce(data["q"], data["k"], data["queue"], drop_all,
                         masking="zero")
  removed = losses.info_nce(data["q"], data["k"], data["queue"], drop_all,
                            masking="remove")
  np.testing.assert_allclose(removed, 0.0, atol=1e-6)
  pos = np.sum(data["q"] * data["k"], 1) / 0.2
  np.testing.assert_allclose(zero, np.log(np.exp(pos) + K) - pos, rtol=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda d: losses.info_nce(d["q"], d["k"][:2], d["queue"]), "k has shape"),
    (lambda d: losses.info_nce(d["q"], d["k"], d["queue"][:, :3]), "queue"),
    (lambda d: losses.info_nce(d["q"], d["k"], d["queue"],
                               jnp.ones((B, K + 1), bool)), "keep_mask"),
    (lambda d: losses.info_nce(d["q"], d["k"], d["queue"], masking="drop"),
     "masking"),
    (lambda d: losses.info_nce(d["q"], d["k"], d["queue"], tau=0.0), "tau"),
    (lambda d: losses.proto_nce(d["q"], d["centroids"], d["temps"],
                                jnp.asarray([0, 1, 2, 3, 4, M]),
                                jnp.ones((B, M), bool)), "labels"),
    (lambda d: losses.proto_nce(d["q"], d["centroids"], 0 * d["temps"],
                                jnp.asarray(d["labels"]),
                                jnp.ones((B, M), bool)), "temperatures"),
    (lambda d: losses.proto_nce(d["q"], d["centroids"], d["temps"],
                                jnp.asarray(d["labels"]),
                                jnp.ones((B, M - 1), bool)), "candidate_mask"),
    (lambda d: losses.candidate_mask(jnp.asarray(d["labels"]), M, "all"),
     "candidates"),
])
def test_bad_inputs_raise(data, call, message):
  with pytest.raises(ValueError, match=message):
    call(data)
