"""Keep-probabilities for HCSC's negative pair selection (docs/method.md §3-4).

Instance selection asks, for each queue row z_j, how much of its cluster
posterior falls on the query's own cluster c: the less, the more likely z_j is
a true negative. Prototype selection asks the same of each prototype with
respect to the parent of the query's cluster.

The per-row normaliser of instance selection (a log-sum-exp over all M
prototypes) depends only on the queue row and the epoch's hierarchy, so it can
be computed once per queue row and cached (`queue_log_normalizer`); the keep
probability then needs only the [B, K] logits against the B query clusters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hcsc_jax.method import checks

Array = jax.Array

# Floor applied to cluster temperatures inside instance selection, as in the
# reference, so that a degenerate cluster cannot blow the logits up.
INSTANCE_TEMPERATURE_FLOOR = 1e-3
INSTANCE_KEEP_CLIP = (0.0, 0.999)
PROTOTYPE_KEEP_CLIP = (1e-4, 0.999)


def _scaled_centroids(centroids: Array, temperatures: Array) -> Array:
  floor = jnp.maximum(temperatures, INSTANCE_TEMPERATURE_FLOOR)
  return centroids / floor[:, None]


def _check_instance_args(queue, centroids, temperatures) -> None:
  checks.check_rank("queue", queue, 2)
  checks.check_rank("centroids", centroids, 2)
  checks.check_rank("temperatures", temperatures, 1)
  checks.check_dim("centroids", centroids, 1, queue.shape[1],
                   "the queue's embedding size")
  checks.check_dim("temperatures", temperatures, 0, centroids.shape[0],
                   "the number of centroids")
  checks.check_positive("temperatures", temperatures)


def queue_log_normalizer(queue: Array, centroids: Array,
                         temperatures: Array) -> Array:
  """[K] log sum_i exp(z_j . C_i / phi_i): the cacheable part of Sec. 3."""
  _check_instance_args(queue, centroids, temperatures)
  logits = queue @ _scaled_centroids(centroids, temperatures).T
  return jax.nn.logsumexp(logits, axis=1)


def instance_keep_probs_cached(queue: Array, centroids: Array,
                               temperatures: Array, labels: Array,
                               log_normalizer: Array) -> Array:
  """[B, K] keep-probabilities given `queue_log_normalizer` of the queue."""
  _check_instance_args(queue, centroids, temperatures)
  checks.check_rank("labels", labels, 1)
  checks.check_ids_in_range("labels", labels, centroids.shape[0])
  checks.check_dim("log_normalizer", log_normalizer, 0, queue.shape[0],
                   "the queue length")
  own_centroids = jnp.take(_scaled_centroids(centroids, temperatures), labels,
                           axis=0)
  own_logits = own_centroids @ queue.T
  posterior_on_own_cluster = jnp.exp(own_logits - log_normalizer[None, :])
  return jnp.clip(1.0 - posterior_on_own_cluster, *INSTANCE_KEEP_CLIP)


def instance_selection_probs(queue: Array, centroids: Array,
                             temperatures: Array, labels: Array) -> Array:
  """[B, K] keep-probabilities of Sec. 3.

  queue [K, d], centroids [M, d], temperatures [M], labels [B] int (the
  query's level cluster). p_keep[n, j] = clip(1 - softmax_i(z_j . C_i /
  max(phi_i, 1e-3))[labels[n]], 0, 0.999).
  """
  log_normalizer = queue_log_normalizer(queue, centroids, temperatures)
  return instance_keep_probs_cached(queue, centroids, temperatures, labels,
                                    log_normalizer)


def prototype_selection_probs(child_parent_logits: Array,
                              upper_temperatures: Array,
                              parent_labels: Array,
                              tau: float = 0.2) -> Array:
  """[B, M_l] keep-probabilities of Sec. 4.

  child_parent_logits [M_l, M_l+1] (similarities of normalised centroids),
  upper_temperatures [M_l+1], parent_labels [B] int (parent of each query's
  level-l cluster).
  """
  checks.check_rank("child_parent_logits", child_parent_logits, 2)
  checks.check_rank("upper_temperatures", upper_temperatures, 1)
  checks.check_rank("parent_labels", parent_labels, 1)
  checks.check_dim("upper_temperatures", upper_temperatures, 0,
                   child_parent_logits.shape[1],
                   "the number of parent prototypes")
  checks.check_positive("upper_temperatures", upper_temperatures)
  checks.check_ids_in_range("parent_labels", parent_labels,
                            child_parent_logits.shape[1])
  if tau <= 0:
    raise ValueError(f"tau must be positive, got {tau}.")
  rescaled = tau * upper_temperatures / jnp.mean(upper_temperatures)
  posterior = jax.nn.softmax(child_parent_logits / rescaled[None, :], axis=1)
  on_parent = jnp.take(posterior, parent_labels, axis=1).T
  return jnp.clip(1.0 - on_parent, *PROTOTYPE_KEEP_CLIP)


SAMPLERS = ("hash", "threefry")


def _mix32(x: Array) -> Array:
  """A 32-bit integer finaliser with low bias (xorshift-multiply rounds)."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def _hash_uniform(rng: Array, shape: tuple[int, ...]) -> Array:
  """Uniforms in [0, 1) with 24-bit resolution from a counter-based hash.

  The selection draws need B x K uniforms per level every step; JAX's
  threefry costs ~60 ms for 4M of them on a 2-core CPU, this ~2 ms once
  fused with the comparison. The two seed words come from `rng`, so draws are
  still a pure function of the PRNG key.
  """
  size = 1
  for n in shape:
    size *= n
  if size >= 2**32:
    raise ValueError(f"hash sampler supports fewer than 2**32 draws, got "
                     f"{size} for shape {shape}; use sampler='threefry'.")
  seed = jax.random.bits(rng, (2,), jnp.uint32)
  counter = jax.lax.iota(jnp.uint32, size).reshape(shape)
  bits = _mix32(_mix32(counter ^ seed[0]) + seed[1])
  return (bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


def sample_keep_mask(rng: Array, keep_probs: Array,
                     sampler: str = "hash") -> Array:
  """Bernoulli draw of the keep mask (True = the negative is used).

  sampler "threefry" uses `jax.random.bernoulli`; "hash" (default) uses a
  fast counter-based hash of the same key, whose draws are independent of
  threefry's but equally distributed.
  """
  checks.check_choice("sampler", sampler, SAMPLERS)
  if sampler == "threefry":
    return jax.random.bernoulli(rng, keep_probs)
  return _hash_uniform(rng, tuple(keep_probs.shape)) < keep_probs
