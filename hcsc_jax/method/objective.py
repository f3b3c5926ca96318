"""The whole HCSC objective for one batch (docs/method.md §3-5), as one
pure function.

Every component is a switch on `ObjectiveConfig`, so the ablations of the
paper's Table 5 are configs, not code paths in the trainer. Before the first
clustering (`active` false) the objective is plain MoCo InfoNCE; `active` may
be a traced boolean so the train step compiles once for the whole run.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp

from hcsc_jax.method import checks
from hcsc_jax.method.hierarchy import HierarchyArrays
from hcsc_jax.method import losses
from hcsc_jax.method import selection

Array = jax.Array

LEVEL_REDUCTIONS = ("sum", "mean")


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
  """Static switches of the objective (hashable, so usable under jit)."""
  tau: float = 0.2
  instance_loss: bool = True
  prototype_loss: bool = True
  instance_selection: bool = True
  prototype_selection: bool = True
  local_instance_selection: bool = False
  masking: str = "zero"
  level_reduction: str = "sum"
  candidates: str = "batch"
  sampler: str = "hash"

  def __post_init__(self):
    checks.check_choice("masking", self.masking, losses.MASKING_MODES)
    checks.check_choice("level_reduction", self.level_reduction,
                        LEVEL_REDUCTIONS)
    checks.check_choice("candidates", self.candidates,
                        losses.CANDIDATE_RULES)
    checks.check_choice("sampler", self.sampler, selection.SAMPLERS)
    if not self.tau > 0:
      raise ValueError(f"tau must be positive, got {self.tau}.")
    if not (self.instance_loss or self.prototype_loss):
      raise ValueError("instance_loss and prototype_loss are both off: "
                       "there would be nothing to train; enable one.")


def metric_names(num_levels: int) -> tuple[str, ...]:
  """The keys of the metrics dict, identical in every branch."""
  names = ["loss", "icsc", "pcsc", "local_instance", "local_pcsc",
           "instance_acc", "hierarchy_active"]
  for level in range(num_levels):
    names += [f"icsc/level{level}", f"pcsc/level{level}",
              f"instance_keep/level{level}", f"proto_keep/level{level}",
              f"proto_acc/level{level}"]
  return tuple(names)


def selection_keys(rng: Array, num_views: int,
                   num_levels: int) -> tuple[Array, Array]:
  """PRNG keys of the selection draws: ([views, levels] instance keys,
  [views, levels] prototype keys); view 0 is the global query."""
  return (jax.random.split(jax.random.fold_in(rng, 0), (num_views, num_levels)),
          jax.random.split(jax.random.fold_in(rng, 1), (num_views, num_levels)))


def _reduce_levels(values: Sequence[Array], how: str) -> Array:
  total = sum(values)
  return total / len(values) if how == "mean" else total


def _check_inputs(q, k, queue, hierarchy, indices, local_q, log_normalizers):
  checks.check_rank("q", q, 2)
  if k.shape != q.shape:
    raise ValueError(f"k has shape {k.shape} but q has shape {q.shape}.")
  checks.check_rank("queue", queue, 2)
  checks.check_dim("queue", queue, 1, q.shape[1], "the embedding size of q")
  checks.check_rank("indices", indices, 1)
  checks.check_dim("indices", indices, 0, q.shape[0], "the batch size of q")
  if hierarchy.num_levels < 1:
    raise ValueError("hierarchy has no levels; num_clusters needs at least "
                     "one entry.")
  for level, centroids in enumerate(hierarchy.centroids):
    checks.check_dim(f"hierarchy.centroids[{level}]", centroids, 1,
                     q.shape[1], "the embedding size of q")
  checks.check_ids_in_range("indices", indices,
                            hierarchy.assignments[0].shape[0])
  if local_q is not None:
    checks.check_rank("local_q", local_q, 3)
    if local_q.shape[1:] != q.shape:
      raise ValueError(f"local_q has shape {local_q.shape}; expected "
                       f"[views, {q.shape[0]}, {q.shape[1]}].")
  if log_normalizers is not None and len(log_normalizers) != hierarchy.num_levels:
    raise ValueError(f"log_normalizers has {len(log_normalizers)} levels, the "
                     f"hierarchy has {hierarchy.num_levels}.")


class _Views:
  """Temperature-scaled instance logits of the global query and local views."""

  def __init__(self, q, k, queue, local_q, tau):
    self.queries = [q] + ([] if local_q is None else list(local_q))
    self.positive = [jnp.sum(v * k, axis=1) / tau for v in self.queries]
    self.negative = [(v @ queue.T) / tau for v in self.queries]

  def __len__(self):
    return len(self.queries)

  def plain_info_nce(self, view: int) -> Array:
    return jnp.mean(losses.info_nce_from_logits(self.positive[view],
                                                self.negative[view]))


def _plain_branch(views: _Views, num_levels: int) -> tuple[Array, dict]:
  metrics = dict.fromkeys(metric_names(num_levels), jnp.zeros((), jnp.float32))
  icsc = views.plain_info_nce(0)
  local = sum((views.plain_info_nce(v) for v in range(1, len(views))),
              jnp.zeros((), jnp.float32))
  metrics.update(icsc=icsc, local_instance=local, loss=icsc + local)
  for level in range(num_levels):
    metrics[f"instance_keep/level{level}"] = jnp.ones((), jnp.float32)
    metrics[f"proto_keep/level{level}"] = jnp.ones((), jnp.float32)
  return metrics["loss"], metrics


def _hierarchy_branch(views, queue, hierarchy, indices, rng, config,
                      log_normalizers) -> tuple[Array, dict]:
  num_levels = hierarchy.num_levels
  metrics = dict.fromkeys(metric_names(num_levels), jnp.zeros((), jnp.float32))
  labels = [jnp.take(a, indices, axis=0) for a in hierarchy.assignments]
  instance_keys, proto_keys = selection_keys(rng, len(views), num_levels)

  instance_probs = None
  if config.instance_loss and (config.instance_selection or
                               config.local_instance_selection):
    if log_normalizers is None:
      log_normalizers = [
          selection.queue_log_normalizer(queue, c, t)
          for c, t in zip(hierarchy.centroids, hierarchy.temperatures)]
    instance_probs = [
        selection.instance_keep_probs_cached(
            queue, hierarchy.centroids[l], hierarchy.temperatures[l],
            labels[l], log_normalizers[l]) for l in range(num_levels)]

  def selective_info_nce(view: int, record: bool) -> Array:
    per_level = []
    for level in range(num_levels):
      keep = selection.sample_keep_mask(instance_keys[view, level],
                                        instance_probs[level], config.sampler)
      per_level.append(jnp.mean(losses.info_nce_from_logits(
          views.positive[view], views.negative[view], keep, config.masking)))
      if record:
        metrics[f"icsc/level{level}"] = per_level[-1]
        metrics[f"instance_keep/level{level}"] = jnp.mean(keep)
    return _reduce_levels(per_level, config.level_reduction)

  proto_logits, candidates, proto_probs = [], [], []
  for level in range(num_levels):
    proto_logits.append(losses.prototype_logits(
        views.queries[0], hierarchy.centroids[level],
        hierarchy.temperatures[level]))
    candidates.append(losses.candidate_mask(
        labels[level], hierarchy.centroids[level].shape[0],
        config.candidates))
    has_parent = level < num_levels - 1
    proto_probs.append(
        selection.prototype_selection_probs(
            hierarchy.child_parent_logits[level],
            hierarchy.temperatures[level + 1],
            jnp.take(hierarchy.parents[level], labels[level], axis=0),
            config.tau)
        if config.prototype_selection and has_parent else None)
    correct = jnp.argmax(proto_logits[level], axis=1) == labels[level]
    metrics[f"proto_acc/level{level}"] = jnp.mean(correct)
    metrics[f"proto_keep/level{level}"] = jnp.ones((), jnp.float32)

  def proto_loss(view: int, level: int, record: bool) -> Array:
    logits = proto_logits[level] if view == 0 else losses.prototype_logits(
        views.queries[view], hierarchy.centroids[level],
        hierarchy.temperatures[level])
    keep = None
    if proto_probs[level] is not None:
      keep = selection.sample_keep_mask(proto_keys[view, level],
                                        proto_probs[level], config.sampler)
      if record:
        kept = jnp.sum(keep & candidates[level])
        metrics[f"proto_keep/level{level}"] = kept / jnp.maximum(
            jnp.sum(candidates[level]), 1)
    value = jnp.mean(losses.proto_nce_from_logits(
        logits, labels[level], candidates[level], keep, config.masking))
    if record:
      metrics[f"pcsc/level{level}"] = value
    return value

  total = jnp.zeros((), jnp.float32)
  if config.instance_loss:
    if config.instance_selection:
      metrics["icsc"] = selective_info_nce(0, record=True)
    else:
      metrics["icsc"] = views.plain_info_nce(0)
    local = [selective_info_nce(v, record=False)
             if config.local_instance_selection else views.plain_info_nce(v)
             for v in range(1, len(views))]
    metrics["local_instance"] = sum(local, jnp.zeros((), jnp.float32))
    total = total + metrics["icsc"] + metrics["local_instance"]
  if config.prototype_loss:
    metrics["pcsc"] = sum(proto_loss(0, l, record=True)
                          for l in range(num_levels)) / num_levels
    local = [proto_loss(v, l, record=False)
             for v in range(1, len(views)) for l in range(num_levels)]
    metrics["local_pcsc"] = sum(local, jnp.zeros((), jnp.float32)) / num_levels
    total = total + metrics["pcsc"] + metrics["local_pcsc"]
  metrics["hierarchy_active"] = jnp.ones((), jnp.float32)
  metrics["loss"] = total
  return total, metrics


def hcsc_objective(q: Array, k: Array, queue: Array,
                   hierarchy: HierarchyArrays, indices: Array, rng: Array,
                   config: ObjectiveConfig = ObjectiveConfig(), *,
                   local_q: Array | None = None,
                   active: bool | Array = True,
                   log_normalizers: Sequence[Array] | None = None,
                   ) -> tuple[Array, dict[str, Array]]:
  """HCSC loss of a batch and its parts.

  Args:
    q: [B, d] L2-normalised query embeddings (gradients flow through these).
    k: [B, d] L2-normalised keys of the same examples (no gradient).
    queue: [K, d] negative keys (no gradient).
    hierarchy: the epoch's prototypes (`HierarchyArrays`).
    indices: [B] int dataset indices of the batch (select assignments).
    rng: PRNG key for the Bernoulli selection draws.
    config: static switches (`ObjectiveConfig`).
    local_q: optional [V, B, d] embeddings of local (multi-crop) views.
    active: whether the hierarchy is in use (false during warm-up: plain
      InfoNCE); a Python bool or a traced scalar.
    log_normalizers: optional cached `queue_log_normalizer` per level.

  Returns:
    (loss, metrics): scalar loss and a dict of scalars named by
    `metric_names(num_levels)`.
  """
  _check_inputs(q, k, queue, hierarchy, indices, local_q, log_normalizers)
  k = jax.lax.stop_gradient(k)
  queue = jax.lax.stop_gradient(queue)
  views = _Views(q, k, queue, local_q, config.tau)
  all_logits = jnp.concatenate([views.positive[0][:, None],
                                views.negative[0]], axis=1)
  instance_acc = jnp.mean(jnp.argmax(all_logits, axis=1) == 0)

  def plain():
    return _plain_branch(views, hierarchy.num_levels)

  def hierarchical():
    return _hierarchy_branch(views, queue, hierarchy, indices, rng, config,
                             log_normalizers)

  if isinstance(active, bool):
    loss, metrics = hierarchical() if active else plain()
  else:
    loss, metrics = jax.lax.cond(jnp.asarray(active, bool), hierarchical,
                                 plain)
  metrics["instance_acc"] = instance_acc
  metrics = {name: jnp.asarray(value, jnp.float32)
             for name, value in metrics.items()}
  return loss, metrics
