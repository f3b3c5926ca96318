"""The train state: every array a run needs to continue, as one pytree.

Built abstractly with `jax.eval_shape` and materialised by a jitted init
whose outputs are replicated on the mesh, so nothing is first built on one
device and then copied.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from hcsc_jax.method import hierarchy as hierarchy_lib
from hcsc_jax import models
from hcsc_jax.runtime import sharding
from hcsc_jax.engine import optimizer

Array = jax.Array


@flax.struct.dataclass
class TrainState:
  step: Array                  # int32 scalar, global optimiser steps
  params: Any                  # query encoder
  batch_stats: Any
  key_params: Any              # momentum (key) encoder
  key_batch_stats: Any
  opt_state: Any
  queue: Array                 # [K, d] float32
  queue_ptr: Array             # int32 scalar
  hierarchy: hierarchy_lib.HierarchyArrays
  hierarchy_active: Array      # bool scalar: false during warm-up
  log_normalizers: tuple[Array, ...]  # per level [K], see method/hierarchy.py
  rng: Array                   # uint32 raw key data


def build_model(config) -> models.ResNet:
  return models.ResNet(
      arch=config.arch, width=config.width, small_stem=config.small_stem,
      head="mlp", embed_dim=config.embed_dim,
      bn_group_size=config.bn_group_size,
      dtype=jnp.dtype(config.dtype))


def hierarchy_shapes(config) -> tuple[int, ...]:
  """Cluster counts of the state's hierarchy (a 1-prototype stand-in when the
  hierarchy is off, so the state keeps one structure)."""
  return tuple(config.num_clusters) if config.use_hierarchy else (1,)


def _init(config, model, tx, num_examples: int, rng: Array) -> TrainState:
  init_rng, queue_rng, state_rng = jax.random.split(rng, 3)
  size = config.data.image_size
  variables = model.init(init_rng, jnp.zeros((2, size, size, 3), jnp.float32),
                         train=False)
  params, batch_stats = variables["params"], variables["batch_stats"]
  queue = jax.random.normal(queue_rng, (config.queue_size, config.embed_dim))
  queue = queue / jnp.linalg.norm(queue, axis=1, keepdims=True)
  hierarchy = hierarchy_lib.placeholder_hierarchy(
      hierarchy_shapes(config), num_examples, config.embed_dim,
      config.objective.tau)
  return TrainState(
      step=jnp.zeros((), jnp.int32), params=params, batch_stats=batch_stats,
      key_params=jax.tree.map(jnp.copy, params),
      key_batch_stats=jax.tree.map(jnp.copy, batch_stats),
      opt_state=tx.init(params), queue=queue,
      queue_ptr=jnp.zeros((), jnp.int32), hierarchy=hierarchy,
      hierarchy_active=jnp.zeros((), bool),
      log_normalizers=hierarchy_lib.queue_log_normalizers(queue, hierarchy),
      rng=jax.random.key_data(state_rng))


def create_train_state(config, model, tx: optax.GradientTransformation,
                       num_examples: int, mesh) -> TrainState:
  """A fresh, replicated train state."""
  rng = jax.random.key(config.seed)
  init = jax.jit(lambda r: _init(config, model, tx, num_examples, r),
                 out_shardings=sharding.replicated(mesh))
  return init(rng)


def abstract_train_state(config, model, tx, num_examples: int,
                         mesh) -> TrainState:
  """Shapes, dtypes and shardings of the state, for restoring checkpoints."""
  shapes = jax.eval_shape(
      lambda r: _init(config, model, tx, num_examples, r),
      jax.random.key(config.seed))
  replicated = sharding.replicated(mesh)
  return jax.tree.map(
      lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated),
      shapes)


@dataclasses.dataclass(frozen=True)
class RunParts:
  """What a config builds around its state: the model, the optimiser and
  its learning-rate schedule."""
  model: models.ResNet
  tx: optax.GradientTransformation
  schedule: Callable


def run_parts(config, steps_per_epoch: int = 1) -> RunParts:
  """The run's model and optimiser (`steps_per_epoch` only shapes the
  schedule, so tools that never train pass 1)."""
  tx, schedule = optimizer.make_optimizer(config, steps_per_epoch)
  return RunParts(build_model(config), tx, schedule)


def new_state(config, num_examples: int, mesh, steps_per_epoch: int = 1,
              abstract: bool = False) -> tuple[RunParts, TrainState]:
  """The parts and a fresh replicated state (`abstract`: only its shapes
  and shardings, to restore a checkpoint into) — what the trainer, the
  workdir readers, the importer and the tools all start from."""
  parts = run_parts(config, steps_per_epoch)
  make = abstract_train_state if abstract else create_train_state
  return parts, make(config, parts.model, parts.tx, num_examples, mesh)
