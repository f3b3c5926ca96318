"""Named changes of a pre-training config: the MoCo v2 baseline and the
ablations of the paper's Table 5, for the seeds study (`hcsc_jax.study`)
and the configs that are one of them.

Each variant takes a config and returns it changed (in place); "hcsc" is
the config as given.
"""

from __future__ import annotations

from typing import Callable


def hcsc(config):
  return config


def mocov2(config):
  """The same trainer with every HCSC part off: no clustering, plain
  InfoNCE over the whole queue."""
  config.use_hierarchy = False
  config.objective.prototype_loss = False
  config.objective.instance_selection = False
  config.objective.prototype_selection = False
  return config


def _objective(**fields) -> Callable:
  def change(config):
    for name, value in fields.items():
      config.objective[name] = value
    return config
  return change


def single_level(config):
  """One level of prototypes (the finest) instead of a hierarchy."""
  config.num_clusters = tuple(config.num_clusters)[:1]
  return config


VARIANTS: dict[str, tuple[str, Callable]] = {
    "hcsc": ("HCSC as configured", hcsc),
    "mocov2": ("MoCo v2: no prototypes, no selection", mocov2),
    "no_instance_selection": ("HCSC without instance-wise selection",
                              _objective(instance_selection=False)),
    "no_prototype_selection": ("HCSC without prototypical selection",
                               _objective(prototype_selection=False)),
    "no_selection": ("hierarchical prototypes, no selection",
                     _objective(instance_selection=False,
                                prototype_selection=False)),
    "instance_only": ("instance loss with selection, no prototype loss",
                      _objective(prototype_loss=False)),
    "masking_remove": ("deselected pairs removed (paper) instead of zeroed",
                       _objective(masking="remove")),
    "level_mean": ("instance loss averaged over levels instead of summed",
                   _objective(level_reduction="mean")),
    "single_level": ("one level of prototypes", single_level),
}


def apply(name: str, config):
  if name not in VARIANTS:
    raise ValueError(f"unknown variant {name!r}; choose from "
                     f"{sorted(VARIANTS)}.")
  return VARIANTS[name][1](config)
