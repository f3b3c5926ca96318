"""Startup checks of a run's config: every problem on its own line, naming
the field and the fix, before any data is read or any step compiled."""

from __future__ import annotations

import os

from hcsc_jax.clustering import hierarchical as clustering
from hcsc_jax.data.datasets import registry
from hcsc_jax.data import sources
from hcsc_jax.errors import ConfigError  # pylint: disable=unused-import
from hcsc_jax.evals import knn
from hcsc_jax.evals import label_budget
from hcsc_jax.method import losses
from hcsc_jax.method import objective
from hcsc_jax.method import selection
from hcsc_jax import models


def config_problems(config, num_examples: int | None = None,
                    device_count: int = 1,
                    process_count: int = 1) -> list[str]:
  """A list of human-readable problems; empty when the config is usable."""
  problems = []
  add = problems.append
  if config.arch not in models.ARCHITECTURES:
    add(f"arch={config.arch!r} is unknown; choose one of "
        f"{sorted(models.ARCHITECTURES)}.")
  for name in ("batch_size", "queue_size", "epochs", "embed_dim", "width",
               "log_every", "embed_batch_size"):
    if int(config[name]) < 1:
      add(f"{name}={config[name]} must be at least 1.")
  for name in ("checkpoint_every", "keep_checkpoints"):
    if int(config[name]) < 1:
      add(f"{name}={config[name]} must be at least 1 (keep_checkpoints: how "
          "many of the newest checkpoints stay on disk; there is no 'keep "
          "all' value).")
  for name, value, rule, ok in (
      ("base_lr", config.base_lr, "> 0", config.base_lr > 0),
      ("weight_decay", config.weight_decay, ">= 0", config.weight_decay >= 0),
      ("sgd_momentum", config.sgd_momentum, "in [0, 1)",
       0 <= config.sgd_momentum < 1),
      ("ema_momentum", config.ema_momentum, "in [0, 1]",
       0 <= config.ema_momentum <= 1),
      ("objective.tau", config.objective.tau, "> 0", config.objective.tau > 0),
      ("lock_timeout_s", config.lock_timeout_s, "> 0",
       config.lock_timeout_s > 0),
      ("kmeans.niter", config.kmeans.niter, ">= 1", config.kmeans.niter >= 1),
      ("kmeans.nredo", config.kmeans.nredo, ">= 1", config.kmeans.nredo >= 1)):
    if not ok:
      add(f"{name}={value} must be {rule}.")
  augment = config.augment
  low, high = tuple(augment.scale)
  if not 0 < low <= high <= 1:
    add(f"augment.scale={tuple(augment.scale)} must satisfy 0 < low <= high "
        "<= 1 (fractions of the image area).")
  for name in ("jitter_prob", "grayscale_prob", "blur_prob", "flip_prob"):
    if not 0 <= augment[name] <= 1:
      add(f"augment.{name}={augment[name]} must be a probability in [0, 1].")
  low, high = tuple(augment.blur_sigma)
  if not 0 < low <= high:
    add(f"augment.blur_sigma={tuple(augment.blur_sigma)} must satisfy "
        "0 < low <= high.")
  online_knn = config.knn.enabled or config.eval_every
  problems.extend(knn.config_problems(config.knn,
                                     num_examples if online_knn else None))
  for fraction in tuple(config.knn.label_fractions):
    if not 0 < fraction <= 1:
      add(f"knn.label_fractions={tuple(config.knn.label_fractions)}: "
          f"{fraction} is not a fraction in (0, 1].")
    elif (config.knn.enabled and num_examples is not None
          and fraction * num_examples < max(tuple(config.knn.ks))):
      add(f"knn.label_fractions: {fraction} of the {num_examples} training "
          f"examples is fewer than k={max(tuple(config.knn.ks))}; use a "
          "larger fraction or smaller knn.ks.")
  rule = config.knn.get("label_selection", "")
  if rule and rule not in label_budget.STRATEGIES:
    add(f"knn.label_selection={rule!r}; choose one of "
        f"{list(label_budget.STRATEGIES)} or '' (none).")
  elif rule and not tuple(config.knn.label_fractions):
    add(f"knn.label_selection={rule!r} picks label subsets of the "
        "knn.label_fractions, which is empty; set it too, e.g. (0.01,).")
  if config.data.image_size < 1:
    add(f"data.image_size={config.data.image_size} must be at least 1.")
  if config.eval_every < 0:
    add(f"eval_every={config.eval_every} must be >= 0 (0 turns online kNN "
        "off).")
  reset_from = config.reset_from
  if reset_from and not os.path.isdir(reset_from):
    add(f"reset_from={reset_from!r} is not a directory; pass the workdir "
        "whose encoder weights the new run starts from.")
  if config.warmup_epochs < 0:
    add(f"warmup_epochs={config.warmup_epochs} must be >= 0.")
  batch = config.batch_size
  if batch > 0 and config.queue_size % batch:
    add(f"queue_size={config.queue_size} is not a multiple of batch_size="
        f"{batch}; the queue is written a whole batch at a time (e.g. "
        f"queue_size={max(1, config.queue_size // batch) * batch}).")
  if batch % device_count:
    add(f"batch_size={batch} does not divide over {device_count} devices; "
        "use a multiple of the device count.")
  if batch % process_count:
    add(f"batch_size={batch} does not divide over {process_count} "
        "processes.")
  group = config.bn_group_size
  if group is not None and (group < 1 or batch % group):
    add(f"bn_group_size={group} must be positive and divide batch_size="
        f"{batch} (or be None for batch-wide BN).")
  if config.embed_batch_size % device_count:
    add(f"embed_batch_size={config.embed_batch_size} does not divide over "
        f"{device_count} devices.")
  if config.dtype not in ("float32", "bfloat16", "float16"):
    add(f"dtype={config.dtype!r}; choose float32, bfloat16 or float16.")
  data = config.data
  pipeline = data.pipeline
  if pipeline not in sources.PIPELINES:
    add(f"data.pipeline={pipeline!r}; choose one of "
        f"{list(sources.PIPELINES)}.")
  elif pipeline == "device" and not registry.source(data.name).arrays:
    add(f"data.pipeline='device' holds {registry.device_names()} in "
        f"memory; data.name={data.name!r} needs data.pipeline='tfdata'.")
  if data.name == "image_folder":
    from hcsc_jax.data.datasets import image_folder  # pylint: disable=g-import-not-at-top
    if data.folder_input not in image_folder.FOLDER_INPUTS:
      add(f"data.folder_input={data.folder_input!r}; choose one of "
          f"{list(image_folder.FOLDER_INPUTS)}.")
    if float(data.memory_budget_gb) < 0:
      add(f"data.memory_budget_gb={data.memory_budget_gb} must be >= 0.")
  if data.eval_resize < data.image_size:
    add(f"data.eval_resize={data.eval_resize} is smaller than "
        f"data.image_size={data.image_size}: the eval transform resizes the "
        "shorter side to eval_resize, then centre-crops image_size; set "
        f"data.eval_resize >= {data.image_size}.")
  if len(config.augment.local_sizes) != len(config.augment.local_scales):
    add(f"augment.local_sizes has {len(config.augment.local_sizes)} entries "
        f"but augment.local_scales has {len(config.augment.local_scales)}.")
  if config.use_hierarchy:
    counts = tuple(config.num_clusters)
    derived_later = (not counts and config.data.name == "image_folder"
                     and num_examples is None)  # folder_defaults fills it
    if derived_later:
      pass
    elif not counts or any(int(m) < 1 for m in counts):
      add(f"num_clusters={counts} must be a non-empty tuple of positive "
          "counts.")
    elif any(lo <= up for lo, up in zip(counts, counts[1:])):
      add(f"num_clusters={counts} must be strictly decreasing from the finest "
          "level (level 0) to the top.")
    elif num_examples is not None and counts[0] > num_examples:
      add(f"num_clusters[0]={counts[0]} exceeds the {num_examples} training "
          "examples; use fewer clusters.")
    if config.warmup_epochs >= config.epochs:
      add(f"warmup_epochs={config.warmup_epochs} >= epochs={config.epochs}: "
          "the hierarchy would never be used; lower warmup_epochs.")
  if num_examples is not None and num_examples < batch:
    add(f"the training split has {num_examples} examples, fewer than "
        f"batch_size={batch}.")
  obj = config.objective
  for field, value, choices in (
      ("objective.masking", obj.masking, losses.MASKING_MODES),
      ("objective.level_reduction", obj.level_reduction,
       objective.LEVEL_REDUCTIONS),
      ("objective.candidates", obj.candidates, losses.CANDIDATE_RULES),
      ("objective.sampler", obj.sampler, selection.SAMPLERS),
      ("kmeans.backend", config.kmeans.backend,
       clustering.BACKENDS)):
    if value not in choices:
      add(f"{field}={value!r}; choose one of {list(choices)}.")
  if not (obj.instance_loss or obj.prototype_loss):
    add("objective.instance_loss and objective.prototype_loss are both off.")
  if obj.prototype_loss and not config.use_hierarchy:
    add("objective.prototype_loss needs use_hierarchy=True.")
  return problems


def validate_config(config, **context) -> None:
  problems = config_problems(config, **context)
  if problems:
    raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
