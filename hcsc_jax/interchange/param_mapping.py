"""The 1:1 mapping between `models.ResNet` variables and torchvision keys.

Flax module `layer1_0/downsample_1` is torchvision's `layer1.0.downsample.1`;
leaves translate as

  conv  kernel [H, W, I, O]      <-> weight [O, I, H, W]
  dense kernel [in, out]         <-> weight [out, in]
  dense bias                     <-> bias
  BN    scale / bias             <-> weight / bias
  BN    batch_stats mean / var   <-> running_mean / running_var
  (no Flax counterpart)          <-> num_batches_tracked (int64 scalar)

The projection head's `fc_0` / `fc_2` become `fc.0` / `fc.2`, as in the
reference MoCo/HCSC checkpoints. Everything here is NumPy: no torch import.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

NUM_BATCHES_TRACKED = "num_batches_tracked"

_PARAM_LEAVES = {"kernel": "weight", "bias": "bias", "scale": "weight"}
_STAT_LEAVES = {"mean": "running_mean", "var": "running_var"}


def _module_key(name: str) -> str:
  prefix, _, suffix = name.rpartition("_")
  return f"{prefix}.{suffix}" if prefix and suffix.isdigit() else name


def torch_key(collection: str, path: tuple[str, ...]) -> str:
  """torchvision key of the leaf at `path` in `collection`."""
  *modules, leaf = path
  table = _PARAM_LEAVES if collection == "params" else _STAT_LEAVES
  if leaf not in table:
    raise ValueError(f"no torchvision name for {collection}/{'/'.join(path)}.")
  return ".".join([_module_key(m) for m in modules] + [table[leaf]])


def _flatten(tree: Mapping[str, Any], prefix=()) -> dict[tuple[str, ...], Any]:
  flat = {}
  for name, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(_flatten(value, prefix + (name,)))
    else:
      flat[prefix + (name,)] = value
  return flat


def _unflatten(flat: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for path, value in flat.items():
    node = tree
    for name in path[:-1]:
      node = node.setdefault(name, {})
    node[path[-1]] = value
  return tree


def _to_torch_layout(value: np.ndarray) -> np.ndarray:
  if value.ndim == 4:
    return np.ascontiguousarray(np.transpose(value, (3, 2, 0, 1)))
  if value.ndim == 2:
    return np.ascontiguousarray(value.T)
  return np.ascontiguousarray(value)


def _from_torch_layout(value: np.ndarray) -> np.ndarray:
  if value.ndim == 4:
    return np.ascontiguousarray(np.transpose(value, (2, 3, 1, 0)))
  if value.ndim == 2:
    return np.ascontiguousarray(value.T)
  return np.ascontiguousarray(value)


def to_torch_state_dict(variables: Mapping[str, Any],
                        num_batches_tracked: int = 0
                        ) -> dict[str, np.ndarray]:
  """{'params', 'batch_stats'} -> {torchvision key: NumPy array}."""
  state = {}
  for collection in ("params", "batch_stats"):
    for path, value in _flatten(variables.get(collection, {})).items():
      state[torch_key(collection, path)] = _to_torch_layout(
          np.asarray(value, np.float32))
  for key in [k for k in state if k.endswith(".running_mean")]:
    module = key[:-len(".running_mean")]
    state[f"{module}.{NUM_BATCHES_TRACKED}"] = np.asarray(
        num_batches_tracked, np.int64)
  return state


def from_torch_state_dict(state_dict: Mapping[str, Any],
                          template: Mapping[str, Any],
                          source: str = "state_dict") -> dict[str, Any]:
  """{torchvision key: array} -> variables shaped like `template`.

  Every leaf of `template` must be present with the matching shape; keys the
  template does not use (other than `num_batches_tracked`) are an error, so a
  wrong architecture is reported instead of silently half-loaded.
  """
  used = set()
  variables = {}
  for collection in ("params", "batch_stats"):
    flat = {}
    for path, like in _flatten(template.get(collection, {})).items():
      key = torch_key(collection, path)
      if key not in state_dict:
        raise ValueError(f"{source} is missing key {key!r} (needed for "
                         f"{collection}/{'/'.join(path)}); is it the right "
                         "architecture?")
      value = _from_torch_layout(np.asarray(state_dict[key], np.float32))
      if value.shape != tuple(np.shape(like)):
        raise ValueError(f"{source} key {key!r} has shape "
                         f"{np.asarray(state_dict[key]).shape}, expected "
                         f"{_to_torch_layout(np.zeros(np.shape(like))).shape}"
                         " for this architecture.")
      flat[path] = value
      used.add(key)
    variables[collection] = _unflatten(flat)
  unexpected = sorted(k for k in state_dict
                      if k not in used and not k.endswith(NUM_BATCHES_TRACKED))
  if unexpected:
    raise ValueError(f"{source} has {len(unexpected)} keys this architecture "
                     f"does not use, first {unexpected[0]!r}.")
  return variables
