"""The loop both trainers run, pre-training (`train.py`) and the classifier
protocols (`evals/classifier.py`): an epoch's steps from where the run
stopped, running metric sums on the device reported every `log_every`
steps, and a prompt stop on SIGTERM; then what the epoch's end means for
the checkpoint (save it? stop here, resumable?).

Each trainer keeps what is its own: pre-training clusters before an epoch
and checks for non-finite steps in its report; the classifier evaluates at
the end.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp

from hcsc_jax.runtime import reporting


@jax.jit
def add_metrics(totals: dict | None, metrics: dict) -> dict:
  """Running sums of the step metrics plus a `count` of steps (device side,
  so the loop never waits for the host between reports)."""
  if totals is None:
    return dict(metrics, count=jnp.ones((), jnp.float32))
  return dict({k: totals[k] + metrics[k] for k in metrics},
              count=totals["count"] + 1.0)


def run_steps(train_step: Callable, state, inputs: Iterable, *, epoch: int,
              start_step: int, steps_per_epoch: int, log_every: int,
              report: Callable[[int, Any], None],
              stop_requested: Callable[[], bool],
              accumulate: Callable = add_metrics,
              on_step: Callable[[int], None] | None = None,
              label: str = "") -> tuple[Any, int, bool]:
  """Runs `train_step` over `inputs` (the epoch's batches from
  `start_step` on). `report(global_step, totals)` gets the running sums
  every `log_every` steps, at the epoch's end and at a stop. Returns
  (state, steps of the epoch done, whether a stop was requested)."""
  done, totals, stopped = start_step, None, False
  for batch in reporting.progress_bar(inputs, steps_per_epoch - start_step,
                                      label or f"epoch {epoch}"):
    state, metrics = train_step(state, batch)
    totals = accumulate(totals, metrics)
    done += 1
    step = epoch * steps_per_epoch + done
    if on_step is not None:
      on_step(step)
    if done % log_every == 0 or done == steps_per_epoch:
      report(step, totals)
      totals = None
    if stop_requested():
      stopped = True
      break
  if totals is not None:
    report(epoch * steps_per_epoch + done, totals)
  return state, done, stopped


@dataclasses.dataclass(frozen=True)
class EpochEnd:
  """What to do after an epoch's steps: `save` a checkpoint at
  (`epoch`, `step_in_epoch`) = the position to resume from, and whether to
  `stop` there (preempted: the rerun resumes)."""
  epoch: int
  step_in_epoch: int
  save: bool
  stop: bool


def epoch_end(epoch: int, done: int, steps_per_epoch: int, epochs: int,
              checkpoint_every: int, stop_requested: bool) -> EpochEnd:
  """A stop mid-epoch resumes inside it; a stop that arrives with the
  epoch's end resumes at the next one (the last epoch just finishes);
  otherwise every `checkpoint_every`-th and the last epoch are saved."""
  if done < steps_per_epoch:
    return EpochEnd(epoch, done, save=True, stop=True)
  last = epoch + 1 == epochs
  stop = stop_requested and not last
  save = stop or last or (epoch + 1) % checkpoint_every == 0
  return EpochEnd(epoch + 1, 0, save=save, stop=stop)
