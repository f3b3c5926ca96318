"""Runs a module as `python -m` would, with TensorFlow and TFDS made
unimportable, as on an accelerator host that has neither (and faiss too
with --no_faiss).

  python -m tests.no_tensorflow_runner [--no_faiss] <module> [args...]
"""

import importlib.abc
import runpy
import sys

BLOCKED = ["tensorflow", "tensorflow_datasets"]


class _Hiding(importlib.abc.MetaPathFinder):
  """Wraps a finder so that the blocked packages are never found: imports
  fail with ModuleNotFoundError and `importlib.util.find_spec` says None,
  exactly as when they are not installed."""

  def __init__(self, inner):
    self.inner = inner

  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in BLOCKED:
      return None
    return self.inner.find_spec(name, path, target)

  def find_distributions(self, *args, **kwargs):
    """Package metadata (importlib.metadata) of what is not hidden."""
    inner = getattr(self.inner, "find_distributions", None)
    found = inner(*args, **kwargs) if inner else ()
    return (d for d in found
            if d.metadata["Name"].replace("-", "_").lower() not in BLOCKED
            and not d.metadata["Name"].lower().startswith("tensorflow"))

  def invalidate_caches(self):
    if hasattr(self.inner, "invalidate_caches"):
      self.inner.invalidate_caches()


def main() -> None:
  if sys.argv[1] == "--no_faiss":
    BLOCKED.append("faiss")
    del sys.argv[1]
  sys.meta_path[:] = [_Hiding(finder) for finder in sys.meta_path]
  module, sys.argv = sys.argv[1], [sys.argv[1]] + sys.argv[2:]
  try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
  finally:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(f"blocked modules loaded: {loaded}", flush=True)


if __name__ == "__main__":
  main()
