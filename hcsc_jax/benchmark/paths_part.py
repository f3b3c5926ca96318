"""The `paths` part: a real config's train-phase steps/s on each input
path, and the clustering embedding pass and online kNN."""

from __future__ import annotations

import itertools
import time

import jax
import jax.numpy as jnp

from hcsc_jax.benchmark import config_files
from hcsc_jax.benchmark import synthetic
from hcsc_jax.data import specs


def bench_paths(args) -> dict[str, float]:
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import state as state_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import step as step_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import knn  # pylint: disable=g-import-not-at-top
  base = config_files.load_config(args.config)
  if args.data_dir:
    base.data.data_dir = args.data_dir
  if args.manual_dir:
    base.data.manual_dir = args.manual_dir
  mesh = sharding.make_mesh()
  results = {}
  for pipeline in args.paths.split(","):
    config = base.copy_and_resolve_references()
    config.data.pipeline = pipeline
    if pipeline == "tfdata":
      sources.hide_accelerators_from_tensorflow(config.data)
    dataset = sources.open_dataset(config.data)
    data = dataset.pretrain_input(specs.pretrain_spec(config), mesh)
    parts, state = state_lib.new_state(config, data.num_examples, mesh,
                                       data.steps_per_epoch)
    model, tx, schedule = parts.model, parts.tx, parts.schedule
    hierarchy = synthetic.random_hierarchy(tuple(config.num_clusters),
                                           data.num_examples,
                                           config.embed_dim)
    state = step_lib.make_push_hierarchy(mesh)(
        state, jax.device_put(hierarchy, sharding.replicated(mesh)))
    holder = {"state": state}

    def timed_steps(step_fn, inputs, count):
      start, loss = time.perf_counter(), None
      for item in itertools.islice(inputs, count):
        holder["state"], metrics = step_fn(holder["state"], item)
        loss = metrics["loss"]
      jax.block_until_ready(loss)
      return count / (time.perf_counter() - start)

    steps = min(args.steps, data.steps_per_epoch - 3)
    train_step = step_lib.make_train_step(config, model, tx, schedule, mesh,
                                          make_batch=data.batch)
    inputs = iter(data.step_inputs(0, 0, steps + 3))
    timed_steps(train_step, inputs, 3)  # compile, fill the pipeline
    results[f"paths_{pipeline}"] = timed_steps(train_step, inputs, steps)
    if pipeline == "device" and not args.no_fixed_batch:  # the step alone
      batch = jax.jit(data.batch)(data.epoch_inputs(0), jnp.int32(0))
      fixed_step = step_lib.make_train_step(config, model, tx, schedule,
                                            mesh)
      repeat = itertools.repeat(batch)
      timed_steps(fixed_step, repeat, 3)
      results["paths_synthetic"] = timed_steps(fixed_step, repeat, steps)
    state = holder["state"]
    embed = step_lib.make_feature_fn(model, mesh, "head")
    splits = (config.data.train_split, config.data.eval_split)
    for _ in range(2):  # the first pass includes compiling
      start = time.perf_counter()
      features_lib.split_features(embed, state.key_params, state.key_batch_stats,
                            dataset, splits[0], config.embed_batch_size,
                            mesh, "embed")
      results[f"paths_{pipeline}_embed_s"] = time.perf_counter() - start
      start = time.perf_counter()
      train, test = (features_lib.encoder_features(
          model, state.params, state.batch_stats, dataset, split,
          config.embed_batch_size, mesh, "backbone", "kNN")
                     for split in splits)
      knn.score(train, test, config.knn)
      results[f"paths_{pipeline}_knn_s"] = time.perf_counter() - start
  return results
