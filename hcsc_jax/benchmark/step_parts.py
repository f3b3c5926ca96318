"""The `hcsc_head`, `step` (and `embed`) and `torch_step` parts:
the objective alone, the sharded train step, and the PyTorch yardstick."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.benchmark import config_files
from hcsc_jax.benchmark import flops
from hcsc_jax.benchmark import synthetic
from hcsc_jax.benchmark import timing
from hcsc_jax.method import hierarchy as hierarchy_lib
from hcsc_jax.method import objective


def bench_hcsc_head(args) -> dict[str, float]:
  rng = np.random.default_rng(0)
  batch, dim = args.batch, args.dim
  hierarchy = synthetic.random_hierarchy(args.clusters, args.num_examples, dim)
  queue = jnp.asarray(synthetic.unit_rows(rng, args.queue, dim))
  q = jnp.asarray(synthetic.unit_rows(rng, batch, dim))
  k = jnp.asarray(synthetic.unit_rows(rng, batch, dim))
  config = objective.ObjectiveConfig(sampler=args.sampler)
  cache = hierarchy_lib.queue_log_normalizers(queue, hierarchy)
  use_cache = not args.no_cache

  def head(q, k, queue, cache, hierarchy, indices, rng):
    def loss_fn(q):
      return objective.hcsc_objective(
          q, k, queue, hierarchy, indices, rng, config,
          log_normalizers=cache if use_cache else None)
    (loss, _), grad = jax.value_and_grad(loss_fn, has_aux=True)(q)
    if use_cache:  # the step also refreshes the rows it enqueues
      cache = hierarchy_lib.refresh_log_normalizers(cache, k, jnp.int32(0),
                                                 hierarchy)
    return loss, grad, cache

  head = jax.jit(head)

  def run(i):
    indices = jnp.asarray(
        np.random.default_rng(i).integers(0, args.num_examples, batch),
        jnp.int32)
    return head(q, k, queue, cache, hierarchy, indices, jax.random.key(i))

  first, median = timing.timed(run, args.warmup, args.steps)
  return {"hcsc_head": median * 1e3, "hcsc_head_first_call": first * 1e3}


def _step_config(args):
  """The step part's config: a real config file (--step_config, whose
  sizes then replace the flags'), or the ImageNet one sized by the flags."""
  if args.step_config:
    config = config_files.load_config(args.step_config)
    args.arch, args.batch = config.arch, config.batch_size
    args.queue, args.dim = config.queue_size, config.embed_dim
    args.clusters = tuple(config.num_clusters)
    args.image_size = config.data.image_size
    args.dtype = config.dtype
    args.device_augment = config.augment.on_device
    return config
  from hcsc_jax.configs import hcsc_r50_imagenet  # pylint: disable=g-import-not-at-top
  config = hcsc_r50_imagenet.get_config()
  config.arch = args.arch
  config.batch_size = args.batch
  config.queue_size = args.queue
  config.embed_dim = args.dim
  config.num_clusters = args.clusters
  config.data.image_size = args.image_size
  config.dtype = args.dtype
  config.objective.sampler = args.sampler
  config.augment.on_device = args.device_augment
  return config


def bench_step(args) -> dict[str, float]:
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import state as state_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import step as step_lib  # pylint: disable=g-import-not-at-top
  config = _step_config(args)
  mesh = sharding.make_mesh()
  parts, state = state_lib.new_state(config, args.num_examples, mesh,
                                     steps_per_epoch=5000)
  model, tx, schedule = parts.model, parts.tx, parts.schedule
  hierarchy = synthetic.random_hierarchy(args.clusters, args.num_examples,
                                         args.dim)
  state = step_lib.make_push_hierarchy(mesh)(
      state, jax.device_put(hierarchy, sharding.replicated(mesh)))
  train_step = step_lib.make_train_step(config, model, tx, schedule, mesh,
                                        donate=not args.no_donate)
  rng = np.random.default_rng(0)
  size = args.image_size

  def host_views():
    if args.device_augment:
      return rng.integers(0, 256, (args.batch, size, size, 3), np.uint8)
    return rng.normal(size=(args.batch, size, size, 3)).astype(np.float32)

  host = {"query": host_views(), "key": host_views(),
          "index": rng.integers(0, args.num_examples,
                                args.batch).astype(np.int32)}
  batch = sharding.put_batch(host, mesh)
  holder = {"state": state}

  def run(_):
    holder["state"], metrics = train_step(holder["state"], batch)
    return metrics["loss"]

  first, median = timing.timed(run, args.warmup, args.steps)
  embed = step_lib.make_feature_fn(model, mesh, "head")
  images = batch["query"]

  def run_embed(_):
    return embed(holder["state"].key_params, holder["state"].key_batch_stats,
                 images)

  _, embed_median = timing.timed(run_embed, args.warmup, args.steps)
  results = {"step": args.batch / median, "step_compile": first,
             "step_ms": median * 1e3}
  results.update(flops.utilisation(
      flops.counted_flops(train_step, holder["state"], batch), median,
      jax.devices()[0].device_kind, args.dtype, jax.device_count()))
  if not args.device_augment:  # the embed input is float32 images
    results["embed"] = args.batch / embed_median
  # Fed from the host, as the trainer is: each step's batch is a fresh copy.
  count = 3 * args.steps
  for name, depth in (("host", 0), ("prefetch", 2)):
    batches = (dict(host) for _ in range(count))
    start = time.perf_counter()
    loss = None
    for device_batch in sharding.prefetch_to_device(batches, mesh, depth):
      holder["state"], metrics = train_step(holder["state"], device_batch)
      loss = metrics["loss"]
      if depth == 0:  # the copy of the next batch waits for this step
        jax.block_until_ready(loss)
    jax.block_until_ready(loss)
    results[f"step_fed_{name}"] = count * args.batch / (
        time.perf_counter() - start)
  return results


def bench_torch_step(args) -> dict[str, float]:
  """The PyTorch yardstick (`hcsc_jax.benchmark.torch_step`) at the
  Fashion-MNIST demo config's sizes, fed from Debian's Fashion-MNIST
  files."""
  from hcsc_jax.benchmark import torch_step  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  config = config_files.load_config(args.step_config or "configs/fashion_mnist.py")
  if config.arch != "resnet18" or not config.small_stem:
    raise ValueError("torch_step: the yardstick is the small-stem ResNet-18 "
                     f"of the Fashion-MNIST demo; the config has arch="
                     f"{config.arch!r}, small_stem={config.small_stem}.")
  directory = fashion_mnist_files.source_dir(args.manual_dir)
  fashion_mnist_files.check_source_dir(directory)
  images, _ = fashion_mnist_files.read_split(directory, "train")
  return torch_step.benchmark(
      width=config.width, embed_dim=config.embed_dim,
      batch=config.batch_size, image_size=config.data.image_size,
      queue_size=config.queue_size, clusters=tuple(config.num_clusters),
      group=config.bn_group_size, steps=args.steps, warmup=args.warmup,
      images=images.reshape(images.shape[:3]),
      scale=tuple(config.augment.scale), mean=tuple(config.data.mean),
      std=tuple(config.data.std), workers=args.torch_workers)
