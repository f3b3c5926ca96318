"""InfoNCE and ProtoNCE with selection masks (docs/method.md §3-4, §9).

A candidate negative that the selection draw did not keep is treated by
`masking`: "zero" multiplies its logit by 0 as the reference code does (it
still adds exp(0) = 1 to the denominator); "remove" drops it from the
denominator, as the paper's formulas read.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hcsc_jax.method import checks

Array = jax.Array

MASKING_MODES = ("zero", "remove")
CANDIDATE_RULES = ("batch", "self")


def _apply_keep_mask(logits: Array, keep_mask: Array | None,
                     masking: str) -> Array:
  if keep_mask is None:
    return logits
  if masking == "zero":
    return jnp.where(keep_mask, logits, 0.0)
  return jnp.where(keep_mask, logits, -jnp.inf)


def info_nce_from_logits(positive_logits: Array, negative_logits: Array,
                         keep_mask: Array | None = None,
                         masking: str = "zero") -> Array:
  """[B] InfoNCE from already temperature-scaled logits ([B] and [B, K])."""
  checks.check_choice("masking", masking, MASKING_MODES)
  negatives = _apply_keep_mask(negative_logits, keep_mask, masking)
  all_logits = jnp.concatenate([positive_logits[:, None], negatives], axis=1)
  return jax.nn.logsumexp(all_logits, axis=1) - positive_logits


def info_nce(q: Array, k: Array, queue: Array, keep_mask: Array | None = None,
             tau: float = 0.2, masking: str = "zero") -> Array:
  """[B] per-example InfoNCE. q, k [B, d]; queue [K, d]; keep_mask [B, K]
  bool or None (all kept). Target is the positive key at column 0."""
  checks.check_rank("q", q, 2)
  checks.check_rank("k", k, 2)
  checks.check_rank("queue", queue, 2)
  if k.shape != q.shape:
    raise ValueError(f"k has shape {k.shape} but q has shape {q.shape}; "
                     "they must match.")
  checks.check_dim("queue", queue, 1, q.shape[1], "the embedding size of q")
  if keep_mask is not None and keep_mask.shape != (q.shape[0], queue.shape[0]):
    raise ValueError(f"keep_mask has shape {keep_mask.shape}, expected "
                     f"{(q.shape[0], queue.shape[0])} (batch, queue length).")
  if tau <= 0:
    raise ValueError(f"tau must be positive, got {tau}.")
  positive = jnp.sum(q * k, axis=1) / tau
  negative = (q @ queue.T) / tau
  return info_nce_from_logits(positive, negative, keep_mask, masking)


def prototype_logits(q: Array, centroids: Array, temperatures: Array) -> Array:
  """[B, M] q . C_j / phi_j."""
  return (q @ centroids.T) / temperatures[None, :]


def proto_nce_from_logits(logits: Array, labels: Array, candidate_mask: Array,
                          keep_mask: Array | None = None,
                          masking: str = "zero") -> Array:
  """[B] ProtoNCE from [B, M] temperature-scaled prototype logits."""
  checks.check_choice("masking", masking, MASKING_MODES)
  num_prototypes = logits.shape[1]
  is_positive = jax.nn.one_hot(labels, num_prototypes, dtype=jnp.bool_)
  is_negative = candidate_mask & ~is_positive
  negatives = logits
  if keep_mask is not None and masking == "remove":
    is_negative = is_negative & keep_mask
  elif keep_mask is not None:
    negatives = jnp.where(keep_mask, logits, 0.0)
  used = jnp.where(is_positive, logits,
                   jnp.where(is_negative, negatives, -jnp.inf))
  positive = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
  return jax.nn.logsumexp(used, axis=1) - positive


def proto_nce(q: Array, centroids: Array, temperatures: Array, labels: Array,
              candidate_mask: Array, keep_mask: Array | None = None,
              masking: str = "zero") -> Array:
  """[B] per-example ProtoNCE at one level.

  candidate_mask [B, M] bool: True where prototype j may serve as a negative of
  query n (the positive itself is never a negative, whatever the mask says);
  keep_mask [B, M] bool or None: the selection draw; a candidate that is not
  kept follows `masking`.
  """
  checks.check_rank("q", q, 2)
  checks.check_rank("centroids", centroids, 2)
  checks.check_rank("temperatures", temperatures, 1)
  checks.check_rank("labels", labels, 1)
  checks.check_dim("centroids", centroids, 1, q.shape[1],
                   "the embedding size of q")
  checks.check_dim("temperatures", temperatures, 0, centroids.shape[0],
                   "the number of centroids")
  checks.check_dim("labels", labels, 0, q.shape[0], "the batch size of q")
  expected = (q.shape[0], centroids.shape[0])
  for name, mask in (("candidate_mask", candidate_mask),
                     ("keep_mask", keep_mask)):
    if mask is not None and mask.shape != expected:
      raise ValueError(f"{name} has shape {mask.shape}, expected {expected} "
                       "(batch, number of prototypes).")
  checks.check_positive("temperatures", temperatures)
  checks.check_ids_in_range("labels", labels, centroids.shape[0])
  logits = prototype_logits(q, centroids, temperatures)
  return proto_nce_from_logits(logits, labels, candidate_mask.astype(bool),
                               keep_mask, masking)


def candidate_mask(labels: Array, num_prototypes: int, rule: str) -> Array:
  """[B, M] candidate negatives: "self" allows every prototype but the
  query's own; "batch" also drops every prototype that is the positive of any
  query in the batch (the reference's PCL behaviour)."""
  checks.check_choice("candidates", rule, CANDIDATE_RULES)
  own = jax.nn.one_hot(labels, num_prototypes, dtype=jnp.bool_)
  if rule == "self":
    return ~own
  used_by_batch = jnp.any(own, axis=0)
  return jnp.broadcast_to(~used_by_batch[None, :], own.shape)
