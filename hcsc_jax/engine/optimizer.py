"""SGD with coupled weight decay and a per-epoch cosine schedule
(docs/method.md §6).

PyTorch SGD adds `weight_decay * param` to every gradient (BN and biases
included) before momentum; `optax.add_decayed_weights` before `optax.sgd`
does the same. The learning rate is constant within an epoch and follows
`0.5 * (1 + cos(pi * epoch / epochs))`, scaled by batch / 256.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def learning_rate(config) -> float:
  return config.base_lr * config.batch_size / 256


def epoch_cosine_schedule(peak: float, epochs: int,
                          steps_per_epoch: int) -> optax.Schedule:
  def schedule(count):
    epoch = jnp.floor_divide(count, steps_per_epoch)
    return peak * 0.5 * (1.0 + jnp.cos(jnp.pi * epoch / epochs))
  return schedule


def make_optimizer(config, steps_per_epoch: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  schedule = epoch_cosine_schedule(learning_rate(config), config.epochs,
                                   steps_per_epoch)
  tx = optax.chain(optax.add_decayed_weights(config.weight_decay),
                   optax.sgd(schedule, momentum=config.sgd_momentum))
  return tx, schedule
