"""`--config=` names a config file; where none exists at that path, the
packaged copy of the same config is used (hcsc_jax.configs): so after
`pip install hcsc_jax` the commands of the docs work from any folder
(`--config=configs/fashion_mnist.py`, or just `--config=fashion_mnist`).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Optional, Sequence

CONFIG_FLAGS = ("config",)


def configs_folder() -> Optional[str]:
  spec = importlib.util.find_spec("hcsc_jax.configs")
  if spec is None or not spec.submodule_search_locations:
    return None
  return list(spec.submodule_search_locations)[0]


def packaged(value: str) -> Optional[str]:
  """The packaged config file for `value` ('configs/x.py:arg', 'x',
  'eval/knn_fashion_mnist'), with its ':arg'; None when `value` exists as
  given or names no packaged config."""
  name, sep, arg = value.partition(":")
  if not name or os.path.exists(name):
    return None
  stem = name.replace(os.sep, "/")
  stem = stem[:-3] if stem.endswith(".py") else stem
  if stem.startswith("configs/"):
    stem = stem[len("configs/"):]
  folder = configs_folder()
  if folder is None:
    return None
  candidate = os.path.join(folder, *stem.split("/")) + ".py"
  return candidate + sep + arg if os.path.isfile(candidate) else None


def resolve(argv: Sequence[str]) -> list[str]:
  """`argv` with every `--config=<path>` that does not exist replaced by
  its packaged copy (left as is when there is none: the command's own
  error then names the path)."""
  out = list(argv)
  for i, arg in enumerate(out):
    for flag in CONFIG_FLAGS:
      if arg.startswith(f"--{flag}="):
        found = packaged(arg.split("=", 1)[1])
        if found:
          out[i] = f"--{flag}={found}"
      elif arg == f"--{flag}" and i + 1 < len(out):
        found = packaged(out[i + 1])
        if found:
          out[i + 1] = found
  return out
