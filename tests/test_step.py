"""The sharded train step: device-count invariance, queue ring buffer,
shuffle BN, momentum update."""

import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.runtime import sharding
from hcsc_jax.benchmark import synthetic
from hcsc_jax.engine import optimizer
from hcsc_jax.engine import state as state_lib
from hcsc_jax.engine import step as step_lib
from tests.trainer_fixtures import smoke_config

NUM_EXAMPLES = 64


def _batches(config, count, seed=0):
  """Views as the input path ships them: uint8 crops when the step
  augments (`augment.on_device`), normalised float32 otherwise."""
  rng = np.random.default_rng(seed)
  shape = (16, config.data.image_size, config.data.image_size, 3)

  def view():
    if config.augment.on_device:
      return rng.integers(0, 256, shape).astype(np.uint8)
    return rng.normal(size=shape).astype(np.float32)
  for _ in range(count):
    yield {"query": view(), "key": view(),
           "index": rng.integers(0, NUM_EXAMPLES, 16).astype(np.int32)}


def _active_state_and_step(config, mesh):
  """A fresh state with a synthetic hierarchy pushed, and the train step."""
  model = state_lib.build_model(config)
  tx, schedule = optimizer.make_optimizer(config, steps_per_epoch=4)
  state = state_lib.create_train_state(config, model, tx, NUM_EXAMPLES, mesh)
  hierarchy = synthetic.random_hierarchy(tuple(config.num_clusters), NUM_EXAMPLES,
                                  config.embed_dim, seed=3)
  state = step_lib.make_push_hierarchy(mesh)(
      state, jax.device_put(hierarchy, sharding.replicated(mesh)))
  return state, step_lib.make_train_step(config, model, tx, schedule, mesh)


def _run_steps(config, mesh, steps):
  state, train_step = _active_state_and_step(config, mesh)
  losses = []
  for batch in _batches(config, steps):
    state, metrics = train_step(state, sharding.put_batch(batch, mesh))
    losses.append(float(metrics["loss"]))
  return state, losses


def test_eight_devices_match_one_device():
  config = smoke_config()
  one, losses_one = _run_steps(config, sharding.make_mesh(jax.devices()[:1]),
                               3)
  eight, losses_eight = _run_steps(config, sharding.make_mesh(), 3)
  assert len(jax.devices()) == 8
  np.testing.assert_allclose(losses_eight, losses_one, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(jax.device_get(eight.params)),
                  jax.tree.leaves(jax.device_get(one.params))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_queue_pointer_wraps_and_keys_are_enqueued():
  config = smoke_config()  # queue 32, batch 16
  mesh = sharding.make_mesh()
  state, _ = _run_steps(config, mesh, 3)
  assert int(state.queue_ptr) == (3 * 16) % 32
  assert int(state.step) == 3
  np.testing.assert_allclose(np.linalg.norm(np.asarray(state.queue), axis=1),
                             1.0, rtol=1e-5)
  # The cached normalisers match a fresh computation on the final queue.
  from hcsc_jax.method import hierarchy as hierarchy_lib  # pylint: disable=g-import-not-at-top
  fresh = hierarchy_lib.queue_log_normalizers(state.queue, state.hierarchy)
  for cached, want in zip(state.log_normalizers, fresh):
    np.testing.assert_allclose(cached, want, rtol=1e-5)


def test_key_groups_never_equal_query_groups():
  """Shuffle BN: each key is normalised with a different group of examples
  than its query, and keys come back in the original order."""
  config = smoke_config()
  group, batch = config.bn_group_size, 16
  mesh = sharding.make_mesh()
  model = state_lib.build_model(config)
  tx, _ = optimizer.make_optimizer(config, 4)
  state = state_lib.create_train_state(config, model, tx, NUM_EXAMPLES, mesh)
  for step in range(20):
    shuffle_rng, _ = step_lib.step_keys(state.replace(step=jnp.int32(step)))
    perm = np.asarray(step_lib.shuffle_permutation(shuffle_rng, batch))
    query_group = {i: frozenset(range(i // group * group,
                                      i // group * group + group))
                   for i in range(batch)}
    position = np.argsort(perm)
    key_group = {i: frozenset(perm[position[i] // group * group:
                                   position[i] // group * group + group])
                 for i in range(batch)}
    assert all(key_group[i] != query_group[i] for i in range(batch))

  images = np.random.default_rng(0).normal(size=(batch, 16, 16, 3))
  images = jnp.asarray(images, jnp.float32)
  shuffle_rng, _ = step_lib.step_keys(state)
  keys, _ = step_lib._key_embeddings(model, state, state.key_params,  # pylint: disable=protected-access
                                     images, shuffle_rng, True)
  perm = step_lib.shuffle_permutation(shuffle_rng, batch)
  direct, _ = model.apply({"params": state.key_params,
                           "batch_stats": state.key_batch_stats},
                          images[perm], train=True, mutable=["batch_stats"])
  np.testing.assert_allclose(keys, direct[np.argsort(np.asarray(perm))],
                             rtol=1e-5, atol=1e-6)


def test_momentum_update_and_lr_schedule():
  config = smoke_config()
  mesh = sharding.make_mesh()
  model = state_lib.build_model(config)
  tx, schedule = optimizer.make_optimizer(config, steps_per_epoch=4)
  state = state_lib.create_train_state(config, model, tx, NUM_EXAMPLES, mesh)
  before_q = jax.device_get(state.params)
  before_k = jax.device_get(state.key_params)
  train_step = step_lib.make_train_step(config, model, tx, schedule, mesh)
  batch = next(_batches(config, 1))
  after, _ = train_step(state, sharding.put_batch(batch, mesh))
  m = config.ema_momentum
  for k0, q0, k1 in zip(jax.tree.leaves(before_k), jax.tree.leaves(before_q),
                        jax.tree.leaves(jax.device_get(after.key_params))):
    np.testing.assert_allclose(k1, m * k0 + (1 - m) * q0, rtol=1e-6,
                               atol=1e-7)
  peak = config.base_lr * config.batch_size / 256
  np.testing.assert_allclose(schedule(0), peak)
  np.testing.assert_allclose(schedule(3), peak)       # constant in epoch 0
  np.testing.assert_allclose(schedule(4), peak * 0.5 * (1 + np.cos(np.pi / 2)))


def test_multicrop_step_uses_local_views():
  from hcsc_jax.configs import hcsc_r50_imagenet_multicrop  # pylint: disable=g-import-not-at-top
  config = hcsc_r50_imagenet_multicrop.get_config("smoke")
  mesh = sharding.make_mesh()
  state, train_step = _active_state_and_step(config, mesh)
  batch = next(_batches(config, 1))
  rng = np.random.default_rng(1)
  for i, size in enumerate(config.augment.local_sizes):
    batch[f"local_{i}"] = rng.normal(size=(16, size, size, 3)).astype(
        np.float32)
  _, metrics = train_step(state, sharding.put_batch(batch, mesh))
  assert float(metrics["local_instance"]) > 0
  assert float(metrics["local_pcsc"]) > 0
  assert np.isfinite(float(metrics["loss"]))


def test_bfloat16_step_stays_close_to_float32():
  """Mixed precision (bf16 compute, f32 params/state/loss) changes the loss
  of the first steps by less than 2% relative on the smoke config."""
  mesh = sharding.make_mesh()
  state32, losses32 = _run_steps(smoke_config(), mesh, 3)
  state16, losses16 = _run_steps(smoke_config(dtype="bfloat16"), mesh, 3)
  np.testing.assert_allclose(losses16, losses32, rtol=2e-2)
  for tree in (state16.params, state16.batch_stats, state16.opt_state):
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(tree)
               if jnp.issubdtype(x.dtype, jnp.floating))
  assert state16.queue.dtype == jnp.float32
  assert not np.array_equal(jax.device_get(state16.queue),
                            jax.device_get(state32.queue))
