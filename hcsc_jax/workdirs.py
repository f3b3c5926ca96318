"""Reading a pre-training workdir back: its config, dataset size and latest
(or a chosen) checkpoint, for the tools that come after training (export,
embed, evaluation)."""

from __future__ import annotations

import json
import os

import jax
import ml_collections

from hcsc_jax import checkpointing
from hcsc_jax import optimizer
from hcsc_jax import sharding
from hcsc_jax import state as state_lib

RUN_INFO = "run_info.json"
CONFIG = "config.json"


def save_run_info(workdir: str, num_examples: int) -> None:
  """What restoring the state needs beyond the config (the dataset size
  fixes the shape of the hierarchy's assignment arrays)."""
  with open(os.path.join(workdir, RUN_INFO), "w") as f:
    json.dump({"num_examples": int(num_examples)}, f)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, CONFIG)
  if not os.path.exists(path):
    found = (f"it holds {sorted(os.listdir(workdir))}"
             if os.path.isdir(workdir) else "it does not exist")
    raise FileNotFoundError(
        f"{path} not found: {workdir} is not a pre-training workdir ({found}; "
        "run hcsc_jax.main or hcsc_jax.import_torch into it first).")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def restore(workdir: str, step: int | None = None):
  """(state, position, config, model) of a workdir's checkpoint."""
  config = load_config(workdir)
  info_path = os.path.join(workdir, RUN_INFO)
  if not os.path.exists(info_path):
    raise FileNotFoundError(f"{info_path} not found; the workdir is "
                            "incomplete.")
  with open(info_path) as f:
    num_examples = json.load(f)["num_examples"]
  checkpoints = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
  available = list(checkpoints.manager.all_steps())
  if not available:
    found = sorted(os.listdir(workdir))
    raise FileNotFoundError(
        f"no checkpoint in {checkpoints.directory} (the workdir holds "
        f"{found}); train first, or pass a PyTorch file with "
        "--config.checkpoint.")
  if step is not None and step not in available:
    raise ValueError(f"--step={step} has no checkpoint in "
                     f"{checkpoints.directory}; available: {sorted(available)}.")
  mesh = sharding.make_mesh()
  model = state_lib.build_model(config)
  tx, _ = optimizer.make_optimizer(config, steps_per_epoch=1)
  abstract = state_lib.abstract_train_state(config, model, tx, num_examples,
                                            mesh)
  state, position = checkpoints.restore(abstract, step)
  checkpoints.close()
  return jax.device_get(state), position, config, model
