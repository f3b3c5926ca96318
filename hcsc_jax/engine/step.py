"""The jitted, sharded computations of a run: train step, hierarchy push,
features, and on-device metric accumulation.

Each is compiled once: everything that changes during a run (learning rate,
hierarchy, whether the hierarchy is active) is data in the state.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from hcsc_jax.data import device_augment
from hcsc_jax.data import specs
from hcsc_jax.method import hierarchy as hierarchy_lib
from hcsc_jax.method import objective
from hcsc_jax.runtime import sharding
from hcsc_jax.engine.state import TrainState

Array = jax.Array


def objective_config(config) -> objective.ObjectiveConfig:
  return objective.ObjectiveConfig(**dict(config.objective))


def _global_norm(tree) -> Array:
  return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def _ema(key_params, params, momentum: float):
  return jax.tree.map(lambda k, q: momentum * k + (1.0 - momentum) * q,
                      key_params, params)


def shuffle_permutation(rng: Array, batch_size: int) -> Array:
  """The key-batch permutation of shuffle BN (position p holds example
  permutation[p])."""
  return jax.random.permutation(rng, batch_size)


def _key_embeddings(model, state: TrainState, key_params, images, rng,
                    shuffle: bool) -> tuple[Array, dict]:
  """Key pass in training mode; with `shuffle`, the batch is permuted before
  the pass and un-permuted after, so a key's BN group differs from its
  query's (MoCo's shuffle BN)."""
  variables = {"params": key_params, "batch_stats": state.key_batch_stats}
  if shuffle:
    permutation = shuffle_permutation(rng, images.shape[0])
    images = images[permutation]
  keys, updates = model.apply(variables, images, train=True,
                              mutable=["batch_stats"])
  if shuffle:
    keys = keys[jnp.argsort(permutation)]
  return jax.lax.stop_gradient(keys), updates["batch_stats"]


def step_keys(state: TrainState) -> tuple[Array, Array]:
  """(shuffle-BN key, selection key) of the state's current step."""
  rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  return tuple(jax.random.split(rng))


def augment_key(state: TrainState) -> Array:
  """The key of the step's on-device augmentations (independent of
  `step_keys`, so turning them on changes nothing else)."""
  rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  return jax.random.fold_in(rng, 0x617567)  # "aug"


def augment_views(batch: dict, key: Array, spec, names) -> dict:
  """Colour jitter, grayscale, blur, flip and normalisation of the uint8
  views in `names`, one key per view."""
  out = dict(batch)
  for i, name in enumerate(names):
    out[name] = device_augment.augment_batch(batch[name],
                                             jax.random.fold_in(key, i), spec)
  return out


def make_train_step(config, model, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, mesh, donate: bool = True,
                    make_batch: Callable | None = None) -> Callable:
  """(state, inputs) -> (state, metrics), jitted with shardings and (unless
  `donate` is off, for benchmarks) the old state's buffers donated.

  `inputs` is the step's batch, sharded over the mesh; or, with
  `make_batch(inputs, step)` (the in-memory path), replicated arrays from
  which the step makes its own batch.
  """
  loss_config = objective_config(config)
  momentum = config.ema_momentum
  use_hierarchy = config.use_hierarchy
  skip_nonfinite = config.skip_nonfinite_steps

  input_spec = specs.pretrain_spec(config)
  on_device, spec = input_spec.augment_on_device, input_spec.augment
  view_names = tuple(input_spec.view_specs)  # query, key, local_0, ...
  local_names = view_names[2:]

  def train_step(state: TrainState, inputs: dict
                 ) -> tuple[TrainState, dict]:
    shuffle_rng, select_rng = step_keys(state)
    if make_batch is not None:
      batch = make_batch(inputs, state.step)
    elif on_device:
      batch = augment_views(inputs, augment_key(state), spec, view_names)
    else:
      batch = inputs
    key_params = _ema(state.key_params, state.params, momentum)
    keys, key_batch_stats = _key_embeddings(model, state, key_params,
                                            batch["key"], shuffle_rng,
                                            config.shuffle_bn)

    def loss_fn(params):
      queries, updates = model.apply(
          {"params": params, "batch_stats": state.batch_stats},
          batch["query"], train=True, mutable=["batch_stats"])
      batch_stats = updates["batch_stats"]
      local = []
      for name in local_names:
        view, updates = model.apply(
            {"params": params, "batch_stats": batch_stats}, batch[name],
            train=True, mutable=["batch_stats"])
        batch_stats = updates["batch_stats"]
        local.append(view)
      loss, metrics = objective.hcsc_objective(
          queries, keys, state.queue, state.hierarchy, batch["index"],
          select_rng, loss_config,
          local_q=jnp.stack(local) if local else None,
          active=state.hierarchy_active if use_hierarchy else False,
          log_normalizers=state.log_normalizers if use_hierarchy else None)
      return loss, (metrics, batch_stats)

    (loss, (metrics, batch_stats)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)

    pointer = state.queue_ptr
    queue = jax.lax.dynamic_update_slice(state.queue, keys, (pointer, 0))
    log_normalizers = state.log_normalizers
    if use_hierarchy:
      log_normalizers = hierarchy_lib.refresh_log_normalizers(
          log_normalizers, keys, pointer, state.hierarchy)
    grad_norm = _global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    metrics = dict(metrics, lr=schedule(state.step), grad_norm=grad_norm,
                   nonfinite=(~finite).astype(jnp.float32),
                   step=state.step.astype(jnp.float32))
    new_state = state.replace(
        params=params, batch_stats=batch_stats,
        key_params=key_params, key_batch_stats=key_batch_stats,
        opt_state=opt_state, queue=queue,
        queue_ptr=(pointer + keys.shape[0]) % state.queue.shape[0],
        log_normalizers=log_normalizers)
    if skip_nonfinite:  # keep everything as it was; only the step advances
      new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                               new_state, state)
    return new_state.replace(step=state.step + 1), metrics

  replicated = sharding.replicated(mesh)
  inputs_sharding = (replicated if make_batch is not None
                     else sharding.batch_sharded(mesh))
  return jax.jit(train_step, in_shardings=(replicated, inputs_sharding),
                 out_shardings=(replicated, replicated),
                 donate_argnums=0 if donate else ())


def make_push_hierarchy(mesh) -> Callable:
  """(state, hierarchy) -> state using it, with the queue cache rebuilt."""
  def push(state: TrainState, hierarchy: hierarchy_lib.HierarchyArrays):
    return state.replace(
        hierarchy=hierarchy, hierarchy_active=jnp.ones((), bool),
        log_normalizers=hierarchy_lib.queue_log_normalizers(state.queue,
                                                         hierarchy))
  replicated = sharding.replicated(mesh)
  return jax.jit(push, in_shardings=(replicated, replicated),
                 out_shardings=replicated, donate_argnums=0)


def make_feature_fn(model, mesh, output: str) -> Callable:
  """(params, batch_stats, images) -> [B, dim] eval-mode features: pooled
  `backbone` features or L2-normalised `head` embeddings."""
  def features(params, batch_stats, images):
    return model.apply({"params": params, "batch_stats": batch_stats},
                       images, train=False, output=output)
  replicated = sharding.replicated(mesh)
  batch = sharding.batch_sharded(mesh)
  return jax.jit(features, in_shardings=(replicated, replicated, batch),
                 out_shardings=batch)


@jax.jit
def accumulate(totals: dict, metrics: dict) -> dict:
  """Running sums on device; `first_nonfinite_step` keeps the earliest."""
  out = {k: totals[k] + metrics[k] for k in metrics}
  bad = metrics["nonfinite"] > 0
  first = totals["first_nonfinite_step"]
  out["first_nonfinite_step"] = jnp.where(bad & (first < 0), metrics["step"],
                                          first)
  out["count"] = totals["count"] + 1.0
  return out


def zero_totals(metrics_like: dict) -> dict:
  totals = {k: jnp.zeros((), jnp.float32) for k in metrics_like}
  totals["count"] = jnp.zeros((), jnp.float32)
  totals["first_nonfinite_step"] = -jnp.ones((), jnp.float32)
  return totals
