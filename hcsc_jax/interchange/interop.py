"""Moving weights between orbax workdirs and PyTorch (docs/method.md §8): the
library behind `hcsc_jax.export` and `hcsc_jax.import_torch`."""

import os
import pickle

import jax
import numpy as np

from hcsc_jax.interchange import param_mapping
from hcsc_jax.interchange import torch_format
from hcsc_jax.workdir import checkpoints as checkpointing
from hcsc_jax.runtime import output_files
from hcsc_jax.runtime import sharding
from hcsc_jax.engine import state as state_lib
from hcsc_jax.workdir import restore as workdirs

FORMATS = ("hcsc", "torchvision", "detectron2", "safetensors")


def export(workdir: str, fmt: str, output: str, step=None) -> None:
  if fmt not in FORMATS:
    raise ValueError(f"format={fmt!r}; choose one of {list(FORMATS)}.")
  output = output_files.prepare(output)
  state, position, config, _ = workdirs.restore(workdir, step)
  tracked = int(state.step)
  with output_files.atomic_path(output) as tmp:
    if fmt == "hcsc":
      torch_format.save_pth(tmp, {
          "epoch": position.epoch, "arch": config.arch,
          "state_dict": torch_format.reference_state_dict(state, tracked)})
    elif fmt == "torchvision":
      torch_format.save_pth(tmp, torch_format.backbone_state_dict(
          state.params, state.batch_stats, tracked))
    elif fmt == "detectron2":
      with open(tmp, "wb") as f:
        pickle.dump(torch_format.detectron2_checkpoint(state.params,
                                                       state.batch_stats), f)
    else:  # safetensors
      from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
      save_file(torch_format.backbone_state_dict(state.params,
                                                 state.batch_stats, tracked),
                tmp, metadata={"arch": config.arch, "format": "torchvision",
                               "step": str(tracked)})


def infer_architecture(query: dict) -> dict:
  """arch, width, small_stem and embed_dim from torchvision-named tensors."""
  if "layer1.0.conv3.weight" in query:
    arch = "resnet50"
  elif "layer3.5.conv1.weight" in query:
    arch = "resnet34"
  else:
    arch = "resnet18"
  stem = np.asarray(query["conv1.weight"])
  out = {"arch": arch, "width": int(stem.shape[0]),
         "small_stem": stem.shape[-1] == 3}
  if "fc.2.weight" in query:
    out["embed_dim"] = int(np.asarray(query["fc.2.weight"]).shape[0])
  return out


def without_head(tree):
  return {k: v for k, v in tree.items() if not k.startswith("fc")}


def load_encoder(state_dict, params, batch_stats, source):
  """Torchvision-named tensors into (params, batch_stats) shaped like the
  given ones; a head-less state dict keeps the given head."""
  has_head = "fc.0.weight" in state_dict
  if not has_head:
    state_dict = {k: v for k, v in state_dict.items()
                  if not k.startswith("fc.")}
  template = {"params": params if has_head else without_head(params),
              "batch_stats": batch_stats}
  loaded = param_mapping.from_torch_state_dict(state_dict, template, source)
  if not has_head:
    loaded["params"] = dict(loaded["params"],
                            **{k: v for k, v in params.items()
                               if k.startswith("fc")})
  return loaded["params"], loaded["batch_stats"]


def _require_new_workdir(workdir: str) -> None:
  """import_torch creates a workdir; it never writes over a run."""
  if os.path.isdir(workdir) and os.listdir(workdir):
    held = sorted(os.listdir(workdir))
    raise ValueError(
        f"--workdir={workdir} is not empty (it holds {held[:6]}"
        f"{' ...' if len(held) > 6 else ''}); import_torch writes only into "
        "a new or empty workdir, so choose another.")


def import_checkpoint(path: str, workdir: str, config, num_examples: int):
  _require_new_workdir(workdir)
  parts = torch_format.split_checkpoint(torch_format.load_pth(path), path)
  for field, value in infer_architecture(parts["query"]).items():
    config[field] = value
  if parts["queue"] is not None:
    config.queue_size = int(parts["queue"].shape[0])
    config.embed_dim = int(parts["queue"].shape[1])
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh()
  run, state = state_lib.new_state(config, num_examples, mesh)
  state = jax.device_get(state)
  params, stats = load_encoder(parts["query"], state.params,
                                state.batch_stats, path)
  key_params, key_stats = params, stats
  if parts["key"] is not None:
    key_params, key_stats = load_encoder(parts["key"], state.key_params,
                                          state.key_batch_stats, path)
  queue, pointer = state.queue, state.queue_ptr
  if parts["queue"] is not None:
    queue = parts["queue"].astype(np.float32)
    pointer = np.int32(parts["queue_ptr"] or 0)
  state = state.replace(params=params, batch_stats=stats,
                        key_params=key_params, key_batch_stats=key_stats,
                        opt_state=run.tx.init(params), queue=queue,
                        queue_ptr=np.int32(pointer))
  state = jax.device_put(state, sharding.replicated(mesh))
  checkpoints = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
  checkpoints.save(0, state, checkpointing.Position(parts["epoch"], 0, False))
  checkpoints.close()
  workdirs.save_config(config, workdir)
  workdirs.save_run_info(workdir, num_examples)
  return config
