"""Supervised classifiers on a pre-trained backbone (docs/method.md §7).

`linear`: the backbone is frozen (eval-mode BN, no gradient), only a linear
layer on the pooled features trains. `finetune` (semi-supervised): backbone
and linear layer train with their own learning rates and BN in training
mode. Both use SGD with momentum, a step schedule (x0.1 at each milestone
epoch), RandomResizedCrop + flip, and checkpoint like pre-training: each
epoch, and on SIGTERM mid-epoch, resuming exactly.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hcsc_jax.evals import encoder as encoder_lib
from hcsc_jax.engine import features as features_lib
from hcsc_jax.workdir import checkpoints as checkpointing
from hcsc_jax.workdir.checkpoints import Position
from hcsc_jax.runtime.preemption import PreemptionWatcher
from hcsc_jax.runtime import reporting
from hcsc_jax.runtime import sharding
from hcsc_jax.workdir import lock as workdir_lock
from hcsc_jax.engine import epoch_loop
from hcsc_jax.workdir import layout as workdir_layout

MODES = ("linear", "finetune")


@flax.struct.dataclass
class ClassifierState:
  step: jax.Array
  params: Any          # backbone + "fc"
  batch_stats: Any
  opt_state: Any


def step_schedule(lr: float, milestones, steps_per_epoch: int):
  """lr x 0.1 per milestone epoch passed."""
  bounds = jnp.asarray([m * steps_per_epoch for m in milestones] or [2**30])

  def schedule(count):
    return lr * 0.1 ** jnp.sum(count >= bounds)
  return schedule


def make_optimizer(cfg, mode: str, steps_per_epoch: int):
  """SGD on the head; SGD with `backbone_lr` or nothing on the backbone."""
  def sgd(lr):
    return optax.chain(
        optax.add_decayed_weights(cfg.weight_decay),
        optax.sgd(step_schedule(lr, cfg.milestones, steps_per_epoch),
                  momentum=cfg.momentum))
  backbone = (sgd(cfg.backbone_lr) if mode == "finetune"
              else optax.set_to_zero())
  labels = lambda params: {name: ("head" if name == "fc" else "backbone")
                           for name in params}
  return optax.multi_transform({"head": sgd(cfg.lr), "backbone": backbone},
                               labels)


def _logits(model, params, batch_stats, images, mode: str):
  """(logits, new batch_stats)."""
  variables = {"params": params, "batch_stats": batch_stats}
  if mode == "linear":
    features = jax.lax.stop_gradient(
        model.apply(variables, images, train=False, output="backbone"))
    fc = params["fc"]
    return features @ fc["kernel"] + fc["bias"], batch_stats
  logits, updates = model.apply(variables, images, train=True,
                                mutable=["batch_stats"])
  return logits.astype(jnp.float32), updates["batch_stats"]


def make_train_step(model, tx, mode: str, mesh, make_batch=None):
  """(state, inputs) -> (state, metrics); `inputs` as in the pre-training
  step (a sharded batch, or arrays the step makes its batch from)."""
  def train_step(state: ClassifierState, inputs):
    batch = (inputs if make_batch is None
             else make_batch(inputs, state.step))

    def loss_fn(params):
      logits, stats = _logits(model, params, state.batch_stats,
                              batch["image"], mode)
      loss = optax.softmax_cross_entropy_with_integer_labels(
          logits, batch["label"]).mean()
      accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
      return loss, (stats, accuracy)

    (loss, (stats, accuracy)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1,
                              params=optax.apply_updates(state.params,
                                                         updates),
                              batch_stats=stats, opt_state=opt_state)
    return new_state, {"loss": loss, "train_top1": accuracy}

  replicated = sharding.replicated(mesh)
  inputs_sharding = (replicated if make_batch is not None
                     else sharding.batch_sharded(mesh))
  return jax.jit(train_step, in_shardings=(replicated, inputs_sharding),
                 out_shardings=(replicated, replicated), donate_argnums=0)


def make_predict(model, mesh):
  """(params, batch_stats, images) -> top-5 class indices (eval-mode BN)."""
  def predict(params, batch_stats, images):
    logits = model.apply({"params": params, "batch_stats": batch_stats},
                         images, train=False)
    return jax.lax.top_k(logits.astype(jnp.float32),
                         min(5, logits.shape[-1]))[1]
  replicated = sharding.replicated(mesh)
  return jax.jit(predict, in_shardings=(replicated, replicated,
                                        sharding.batch_sharded(mesh)),
                 out_shardings=sharding.batch_sharded(mesh))


def initial_state(encoder, model, tx, num_classes: int, seed: int,
                  mesh) -> ClassifierState:
  """Backbone from the encoder; a fresh head ~ N(0, 0.01), zero bias (as
  MoCo's linear classification)."""
  feature_dim = model.feature_dim
  kernel = 0.01 * jax.random.normal(jax.random.key(seed),
                                    (feature_dim, num_classes))
  params = dict(encoder_lib.backbone_params(encoder),
                fc={"kernel": kernel, "bias": jnp.zeros((num_classes,))})
  state = ClassifierState(step=jnp.zeros((), jnp.int32), params=params,
                          batch_stats=encoder.batch_stats,
                          opt_state=tx.init(params))
  return jax.device_put(state, sharding.replicated(mesh))


def accuracy(model, state, dataset, split: str, batch_size: int,
             mesh) -> dict[str, float]:
  """Top-1 / top-5 over every example of `split`."""
  predict = make_predict(model, mesh)
  correct1 = correct5 = total = 0
  for rows in features_lib.map_split(
      lambda images: predict(state.params, state.batch_stats, images),
      dataset, split, batch_size, mesh, f"evaluate {split}",
      carry=("label",)):
    top, truth = rows["outputs"], rows["label"]
    correct1 += int(np.sum(top[:, 0] == truth))
    correct5 += int(np.sum(np.any(top == truth[:, None], axis=1)))
    total += len(truth)
  return {"top1": correct1 / max(total, 1), "top5": correct5 / max(total, 1)}


def train(encoder, eval_config, mode: str, dataset, subset, mesh,
          directory: str) -> dict:
  """Trains (or resumes) the classifier under `directory`, holding that
  directory's lock; returns the eval-split accuracy, or {'preempted':
  True, 'exit_status': ...} after a SIGTERM or Ctrl-C."""
  if mode not in MODES:
    raise ValueError(f"mode={mode!r}; choose one of {list(MODES)}.")
  if not reporting.is_lead_process():
    return _train(encoder, eval_config, mode, dataset, subset, mesh,
                  directory)
  with workdir_lock.WorkdirLock(directory, f"{mode} classifier training"):
    return _train(encoder, eval_config, mode, dataset, subset, mesh,
                  directory)


def _train(encoder, eval_config, mode: str, dataset, subset, mesh,
           directory: str) -> dict:
  cfg = eval_config.classifier
  num_classes = dataset.num_classes
  model = encoder_lib.classifier_model(encoder, num_classes,
                                       eval_config.bn_group_size)
  data = dataset.classifier_input(eval_config.data, cfg.batch_size,
                                  eval_config.seed, cfg.scale, cfg.flip_prob,
                                  subset, mesh)
  steps = data.steps_per_epoch
  tx = make_optimizer(cfg, mode, steps)
  state = initial_state(encoder, model, tx, num_classes, eval_config.seed,
                        mesh)
  checkpoints = checkpointing.Checkpointer(directory, cfg.keep_checkpoints)
  position = Position()
  if checkpoints.latest_step() is not None:
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                       sharding=x.sharding), state)
    state, position, _ = checkpoints.restore_intact(abstract,
                                                    reporting.warn)
    reporting.log(f"resumed classifier from {checkpoints.directory}: "
                  f"{position}")
  writer = reporting.create_writer(directory)
  train_step = make_train_step(model, tx, mode, mesh, data.batch)
  saved_step = checkpoints.latest_step() or 0
  done_steps = [int(position.epoch * steps + position.step_in_epoch)]
  watcher = PreemptionWatcher(lost_work=lambda: (
      f"the {done_steps[0] - saved_step} classifier step(s) since checkpoint "
      f"step {saved_step} are lost"))
  try:
    for epoch in range(position.epoch, cfg.epochs):
      start = position.step_in_epoch if position.epoch == epoch else 0
      state, done, _ = epoch_loop.run_steps(
          train_step, state, data.step_inputs(epoch, start, steps - start),
          epoch=epoch, start_step=start, steps_per_epoch=steps,
          log_every=eval_config.log_every,
          report=lambda step, totals: writer.write_scalars(
              step, reporting.averaged(totals)),
          stop_requested=lambda: watcher.requested,
          on_step=lambda step: done_steps.__setitem__(0, step),
          label=f"{mode} epoch {epoch}")
      end = epoch_loop.epoch_end(epoch, done, steps, cfg.epochs,
                                 cfg.checkpoint_every, watcher.requested)
      position = Position(end.epoch, end.step_in_epoch)
      if end.save:
        checkpoints.save(int(state.step), state, position)
        saved_step = int(state.step)
      if end.stop:
        checkpoints.close()
        print(watcher.stop_line(
            f"classifier checkpoint at step {int(state.step)} ({position})"),
              flush=True)
        return {"preempted": True, "step": int(state.step),
                "exit_status": watcher.exit_status}
  finally:
    watcher.restore()
    writer.flush()
  checkpoints.close()
  results = accuracy(model, state, dataset, eval_config.data.eval_split,
                     eval_config.batch_size, mesh)
  writer.write_scalars(int(state.step), {f"eval/{k}": v
                                         for k, v in results.items()})
  writer.flush()
  train_examples = (len(subset) if subset is not None else
                    dataset.num_examples(eval_config.data.train_split))
  return dict(results, epochs=cfg.epochs, steps_per_epoch=steps,
              train_examples=int(train_examples))


def directory_for(workdir: str, name: str) -> str:
  return workdir_layout.eval_workdir(workdir, name)
