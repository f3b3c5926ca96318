"""The whole HCSC objective against the float64 reference, and its switches."""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcsc_jax.method import hierarchy as hierarchy_lib
from hcsc_jax.method import objective
from hcsc_jax.method import selection
from tests.hierarchy_fixtures import random_hierarchy, unit_rows
from tests import numpy_reference as ref

B, K, D, N = 6, 24, 8, 40
CLUSTERS = (12, 6, 3)


def _inputs(seed=0, views=0):
  rng = np.random.default_rng(seed)
  tree, arrays = random_hierarchy(rng, CLUSTERS, N, D)
  return dict(q=unit_rows(rng, B, D), k=unit_rows(rng, B, D),
              queue=unit_rows(rng, K, D),
              local_q=(np.stack([unit_rows(rng, B, D) for _ in range(views)])
                       if views else None),
              indices=rng.integers(0, N, B).astype(np.int32),
              tree=tree, arrays=arrays, rng=jax.random.key(seed))


def _masks(x, config, views):
  """The draws the objective makes, reproduced through the public API."""
  h, levels = x["arrays"], len(CLUSTERS)
  labels = [jnp.take(a, x["indices"]) for a in h.assignments]
  instance_keys, proto_keys = objective.selection_keys(x["rng"], views + 1,
                                                       levels)
  inst = [selection.instance_selection_probs(x["queue"], h.centroids[l],
                                             h.temperatures[l], labels[l])
          for l in range(levels)]
  proto = [selection.prototype_selection_probs(
      h.child_parent_logits[l], h.temperatures[l + 1],
      jnp.take(h.parents[l], labels[l]), config.tau)
           for l in range(levels - 1)]
  instance_masks = [[np.asarray(selection.sample_keep_mask(
      instance_keys[v, l], inst[l], config.sampler)) for l in range(levels)]
                    for v in range(views + 1)]
  proto_masks = [[np.asarray(selection.sample_keep_mask(
      proto_keys[v, l], proto[l], config.sampler))
                  if l < levels - 1 and config.prototype_selection else None
                  for l in range(levels)] for v in range(views + 1)]
  return instance_masks, proto_masks


@pytest.mark.parametrize("masking, reduction, rule", list(itertools.product(
    ["zero", "remove"], ["sum", "mean"], ["batch", "self"])))
def test_full_objective_matches_reference(masking, reduction, rule):
  x = _inputs(seed=1)
  config = objective.ObjectiveConfig(masking=masking,
                                     level_reduction=reduction,
                                     candidates=rule)
  loss, metrics = objective.hcsc_objective(
      x["q"], x["k"], x["queue"], x["arrays"], x["indices"], x["rng"], config)
  inst, proto = _masks(x, config, 0)
  want = ref.hcsc_loss(x["q"], x["k"], x["queue"], x["tree"], x["indices"],
                       inst[0], proto[0], masking=masking,
                       level_reduction=reduction, candidates=rule)
  np.testing.assert_allclose(loss, want, rtol=2e-5)
  np.testing.assert_allclose(metrics["icsc"] + metrics["pcsc"], want,
                             rtol=2e-5)
  for level in range(3):
    np.testing.assert_allclose(metrics[f"instance_keep/level{level}"],
                               inst[0][level].mean(), rtol=1e-6)

  def reference_of(q):
    return ref.hcsc_loss(q, x["k"], x["queue"], x["tree"], x["indices"],
                         inst[0], proto[0], masking=masking,
                         level_reduction=reduction, candidates=rule)

  grad = jax.grad(lambda q: objective.hcsc_objective(
      q, x["k"], x["queue"], x["arrays"], x["indices"], x["rng"],
      config)[0])(jnp.asarray(x["q"]))
  np.testing.assert_allclose(grad, ref.numerical_gradient(reference_of,
                                                          x["q"]),
                             rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("local_selection", [False, True])
def test_multicrop_objective_matches_reference(local_selection):
  x = _inputs(seed=2, views=2)
  config = objective.ObjectiveConfig(local_instance_selection=local_selection)
  loss, metrics = objective.hcsc_objective(
      x["q"], x["k"], x["queue"], x["arrays"], x["indices"], x["rng"], config,
      local_q=x["local_q"])
  inst, proto = _masks(x, config, 2)
  want = ref.hcsc_loss(
      x["q"], x["k"], x["queue"], x["tree"], x["indices"], inst[0], proto[0],
      local_q=list(x["local_q"]),
      local_instance_masks=inst[1:] if local_selection else None,
      local_proto_masks=proto[1:])
  np.testing.assert_allclose(loss, want, rtol=2e-5)
  assert float(metrics["local_pcsc"]) > 0 and float(
      metrics["local_instance"]) > 0


def test_warmup_is_plain_info_nce_and_ablations():
  x = _inputs(seed=3)
  plain = ref.info_nce(x["q"], x["k"], x["queue"]).mean()
  args = (x["q"], x["k"], x["queue"], x["arrays"], x["indices"], x["rng"])
  loss, metrics = objective.hcsc_objective(*args, active=False)
  np.testing.assert_allclose(loss, plain, rtol=1e-5)
  assert float(metrics["hierarchy_active"]) == 0.0
  # Instance selection off: ICSC is one plain InfoNCE, not one per level.
  _, metrics = objective.hcsc_objective(
      *args, objective.ObjectiveConfig(instance_selection=False))
  np.testing.assert_allclose(metrics["icsc"], plain, rtol=1e-5)
  # Instance loss off: only PCSC; prototype loss off: only ICSC.
  loss, metrics = objective.hcsc_objective(
      *args, objective.ObjectiveConfig(instance_loss=False))
  np.testing.assert_allclose(loss, metrics["pcsc"], rtol=1e-6)
  assert float(metrics["icsc"]) == 0.0
  loss, metrics = objective.hcsc_objective(
      *args, objective.ObjectiveConfig(prototype_loss=False))
  np.testing.assert_allclose(loss, metrics["icsc"], rtol=1e-6)
  # Prototype selection off: every candidate is used.
  _, metrics = objective.hcsc_objective(
      *args, objective.ObjectiveConfig(prototype_selection=False))
  for level in range(3):
    assert float(metrics[f"proto_keep/level{level}"]) == 1.0


def test_single_level_hierarchy():
  rng = np.random.default_rng(4)
  tree, arrays = random_hierarchy(rng, (10,), N, D)
  x = _inputs(seed=4)
  loss, metrics = objective.hcsc_objective(
      x["q"], x["k"], x["queue"], arrays, x["indices"], x["rng"])
  labels = tree.assignments[0][x["indices"]]
  cand = ref.candidate_mask(labels, 10, "batch")
  pcsc = ref.proto_nce(x["q"], tree.centroids[0], tree.temperatures[0],
                       labels, cand).mean()
  np.testing.assert_allclose(metrics["pcsc"], pcsc, rtol=1e-5)
  assert "icsc/level0" in metrics and "icsc/level1" not in metrics


def test_objective_compiles_once_for_repeated_calls():
  x = _inputs(seed=5)
  config = objective.ObjectiveConfig()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(q, k, queue, hierarchy, indices, rng, active, cache):
    return objective.hcsc_objective(q, k, queue, hierarchy, indices, rng,
                                    config, active=active,
                                    log_normalizers=cache)

  cache = hierarchy_lib.queue_log_normalizers(jnp.asarray(x["queue"]),
                                           x["arrays"])
  for i, active in enumerate([False, True, True]):
    other = _inputs(seed=10 + i)
    step(other["q"], other["k"], other["queue"], other["arrays"],
         other["indices"], jax.random.key(i), jnp.asarray(active), cache)
  # A new hierarchy with the same shapes is data, not a new program.
  loss, _ = step(x["q"], x["k"], x["queue"], x["arrays"], x["indices"],
                 x["rng"], jnp.asarray(True), cache)
  assert np.isfinite(float(loss))


def test_traced_and_python_active_agree():
  x = _inputs(seed=6)
  args = (x["q"], x["k"], x["queue"], x["arrays"], x["indices"], x["rng"])
  for active in (False, True):
    eager, _ = objective.hcsc_objective(*args, active=active)
    traced, _ = jax.jit(lambda a: objective.hcsc_objective(
        *args, active=a))(jnp.asarray(active))
    np.testing.assert_allclose(eager, traced, rtol=1e-6)


@pytest.mark.parametrize("field, value", [
    ("masking", "drop"), ("level_reduction", "max"), ("candidates", "all"),
    ("sampler", "numpy"), ("tau", 0.0)])
def test_bad_config_raises(field, value):
  with pytest.raises(ValueError, match=field):
    objective.ObjectiveConfig(**{field: value})


def test_both_losses_off_raises():
  with pytest.raises(ValueError, match="instance_loss and prototype_loss"):
    objective.ObjectiveConfig(instance_loss=False, prototype_loss=False)


def test_bad_batch_inputs_raise():
  x = _inputs(seed=7)
  with pytest.raises(ValueError, match="indices"):
    objective.hcsc_objective(x["q"], x["k"], x["queue"], x["arrays"],
                             np.full(B, N, np.int32), x["rng"])
  with pytest.raises(ValueError, match="local_q"):
    objective.hcsc_objective(x["q"], x["k"], x["queue"], x["arrays"],
                             x["indices"], x["rng"],
                             local_q=np.zeros((2, B, D + 1), np.float32))
  with pytest.raises(ValueError, match="queue"):
    objective.hcsc_objective(x["q"], x["k"], x["queue"][:, :4], x["arrays"],
                             x["indices"], x["rng"])
