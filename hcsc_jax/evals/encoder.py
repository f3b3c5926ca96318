"""The encoder an evaluation looks at: a pre-training workdir's orbax
checkpoint, a PyTorch reference-format checkpoint, or a freshly initialised
network (the random-encoder baseline)."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp

from hcsc_jax.errors import ConfigError
from hcsc_jax.interchange import interop
from hcsc_jax.interchange import torch_format
from hcsc_jax import models
from hcsc_jax.engine import state as state_lib
from hcsc_jax.workdir import restore as workdirs

ENCODERS = ("checkpoint", "random")
ARCH_FIELDS = ("arch", "width", "small_stem", "embed_dim")


@dataclasses.dataclass
class Encoder:
  """A query encoder (ResNet + MLP head) and where it came from."""
  model: models.ResNet
  params: dict
  batch_stats: dict
  source: str         # what to print: path and step
  arch: dict          # ARCH_FIELDS values
  # A workdir checkpoint's hierarchy (host ClusterHierarchy) and the key
  # encoder's (params, batch_stats) that embeds images into its space;
  # None for other encoders and before the first clustering.
  hierarchy: object = None
  key_variables: tuple | None = None

  def record(self) -> dict:
    return {"source": self.source, **self.arch}


def _arch_of(config) -> dict:
  return {field: config[field] for field in ARCH_FIELDS}


def _init_variables(model, image_size: int, seed: int):
  variables = model.init(jax.random.key(seed),
                         jnp.zeros((1, image_size, image_size, 3)),
                         train=False)
  return variables["params"], variables["batch_stats"]


def _from_torch(path: str, image_size: int, bn_group_size) -> Encoder:
  if not os.path.exists(path):
    raise FileNotFoundError(f"config.checkpoint={path!r} does not exist.")
  parts = torch_format.split_checkpoint(torch_format.load_pth(path), path)
  arch = interop.infer_architecture(parts["query"])
  arch.setdefault("embed_dim", 128)
  model = models.ResNet(arch=arch["arch"], width=arch["width"],
                        small_stem=arch["small_stem"], head="mlp",
                        embed_dim=arch["embed_dim"],
                        bn_group_size=bn_group_size)
  params, stats = _init_variables(model, image_size, 0)
  params, stats = interop.load_encoder(parts["query"], params, stats, path)
  return Encoder(model, params, stats, f"{path} (epoch {parts['epoch']})",
                 arch)


def load(eval_config, workdir: str) -> Encoder:
  """The encoder `eval_config` asks for, checked against `eval_config.arch`
  when that is set."""
  image_size = eval_config.data.image_size
  if eval_config.encoder not in ENCODERS:
    raise ConfigError(
        f"encoder={eval_config.encoder!r}; choose one of {list(ENCODERS)}.")
  if eval_config.checkpoint:
    encoder = _from_torch(eval_config.checkpoint, image_size,
                          eval_config.bn_group_size)
  else:
    config = workdirs.load_config(workdir)
    if eval_config.encoder == "random":
      model = state_lib.build_model(config)
      params, stats = _init_variables(model, image_size, eval_config.seed)
      encoder = Encoder(model, params, stats,
                        f"random init (seed {eval_config.seed}) of "
                        f"{workdir}'s architecture", _arch_of(config))
    else:
      state, position, config, model = workdirs.restore(workdir,
                                                        eval_config.step)
      active = bool(state.hierarchy_active)
      encoder = Encoder(model, state.params, state.batch_stats,
                        f"{workdir} step {int(state.step)} (epoch "
                        f"{position.epoch})", _arch_of(config),
                        state.hierarchy.to_host() if active else None,
                        (state.key_params, state.key_batch_stats)
                        if active else None)
  expected = eval_config.arch
  if expected and expected != encoder.arch["arch"]:
    raise ConfigError(
        f"config.arch={expected!r} but the checkpoint holds "
        f"{encoder.arch['arch']} (width {encoder.arch['width']}, small_stem="
        f"{encoder.arch['small_stem']}) from {encoder.source}; pass the "
        "matching checkpoint or drop --config.arch.")
  return encoder


def classifier_model(encoder: Encoder, num_classes: int,
                     bn_group_size) -> models.ResNet:
  """The encoder's backbone with a `num_classes`-way linear head."""
  m = encoder.model
  return models.ResNet(arch=m.arch, width=m.width, small_stem=m.small_stem,
                       head="linear", num_classes=num_classes,
                       bn_group_size=bn_group_size, dtype=m.dtype)


def backbone_params(encoder: Encoder) -> dict:
  return interop.without_head(encoder.params)
