"""The data settings an evaluation uses: those the encoder was trained with
(the workdir's config.json), with the eval config's explicit `data.<field>`
values applied on top as logged overrides.

Evaluation configs leave every `data` field empty (None) unless a protocol
needs another value (e.g. semi-supervised ImageNet reads
`imagenet2012_subset/1pct`); an empty field means "as in training". Without
a training config (a PyTorch checkpoint file) the eval config's
`dataset_defaults` block stands in for it.
"""

from __future__ import annotations

import ml_collections

from hcsc_jax.runtime import reporting


def inheritable(data: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A data block with every field of `data` present and empty."""
  from ml_collections import config_dict  # pylint: disable=g-import-not-at-top
  out = ml_collections.ConfigDict()
  for name, value in data.items():
    kind = type(value) if value is not None else str
    out[name] = config_dict.placeholder(kind)
  return out


def resolve(eval_data, run_data) -> tuple[ml_collections.ConfigDict,
                                         list[str]]:
  """(the data block to evaluate with, the overrides as `field: run ->
  eval` lines); `run_data` is the training config's data block."""
  data = ml_collections.ConfigDict(run_data.to_dict())
  overrides = []
  for name, value in eval_data.items():
    if value is None:
      continue
    before = data.get(name)
    comparable = list(value) if isinstance(value, tuple) else value
    known = list(before) if isinstance(before, tuple) else before
    if comparable != known:
      overrides.append(f"data.{name}: {before!r} -> {value!r}")
    data[name] = value
  return data, overrides


def settle(eval_config, run_config) -> list[str]:
  """Puts the resolved data block into `eval_config` (logging each
  override); returns the overrides."""
  base = (run_config.data if run_config is not None
          else eval_config.dataset_defaults)
  data, overrides = resolve(eval_config.data, base)
  source = "the training run" if run_config is not None else (
      "the eval config's dataset_defaults (no training config)")
  for line in overrides:
    reporting.warn(f"evaluation data setting differs from {source}: {line}")
  with eval_config.unlocked():
    eval_config.data = data
  return overrides
