"""Loading the config files (`path[:variant]`) the parts are pointed at."""

from __future__ import annotations


def load_config(path: str):
  import importlib.util  # pylint: disable=g-import-not-at-top
  name, _, variant = path.partition(":")
  spec = importlib.util.spec_from_file_location("benchmark_config", name)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant or None)
