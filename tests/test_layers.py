"""The package map in hcsc_jax/__init__.py stays true: the top level holds
commands (and cli, errors, models) only, and each library package imports
only from the layers below it, lazy imports inside functions included."""

import ast
import os
import re

from hcsc_jax import cli

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "hcsc_jax")

# Lowest first. A package may import itself and anything of a lower layer.
LAYERS = (
    ("errors", "models", "method"),
    ("runtime",),
    ("clustering", "data"),
    ("engine",),
    ("workdir",),
    ("interchange",),
    ("embedding",),
    ("evals",),
    ("labelling",),
    ("viz",),
    ("training",),
    ("studies",),
    ("benchmark",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
LIBRARY_MODULES = {"cli", "errors", "models", "__init__"}
COMMANDS = set(cli.COMMANDS) - {"benchmark"}  # benchmark is a package
# Inside data/: the data sets (and their registry) and the augmentation
# the step applies on either path sit below both paths,
# which never import each other; sources.py picks between them.
DATA_LAYERS = {"specs": 0, "datasets": 0, "device_augment": 0, "device": 1,
               "tfdata": 1, "sources": 2}


def _modules():
  for folder, _, files in os.walk(ROOT):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        yield os.path.relpath(path, ROOT)[:-3].split(os.sep), path


def _imports(path):
  """Every hcsc_jax module an import statement in `path` names, as parts
  after `hcsc_jax` (`from hcsc_jax import x` names `x`)."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        parts = alias.name.split(".")
        if parts[0] == "hcsc_jax" and len(parts) > 1:
          yield parts[1:], node.lineno
    elif isinstance(node, ast.ImportFrom) and node.module and (
        node.module.split(".")[0] == "hcsc_jax"):
      parts = node.module.split(".")[1:]
      if parts:
        yield parts, node.lineno
      else:
        for alias in node.names:
          yield [alias.name], node.lineno


def test_top_level_holds_commands_cli_errors_and_models_only():
  top = {name[:-3] for name in os.listdir(ROOT) if name.endswith(".py")}
  assert top - COMMANDS - LIBRARY_MODULES == set()
  packages = {name for name in os.listdir(ROOT)
              if os.path.isfile(os.path.join(ROOT, name, "__init__.py"))}
  assert packages == set(RANK) - {"errors", "models"}


def test_every_folder_of_code_is_a_package():
  loose = [os.path.relpath(folder, ROOT) for folder, _, files in os.walk(ROOT)
           if any(f.endswith(".py") for f in files)
           and "__init__.py" not in files]
  assert not loose, f"folders without __init__.py (not packaged): {loose}"


def test_the_package_map_names_every_command_and_package():
  with open(os.path.join(ROOT, "__init__.py"), encoding="utf-8") as f:
    doc = ast.get_docstring(ast.parse(f.read()))
  for name in COMMANDS | set(RANK) - {"errors", "models"}:
    assert f"  {name}" in doc or f" {name} " in doc, name


def _layer_violations(parts, path):
  """What module `parts` (its path in the package, at `path`) imports from
  a higher layer or a command, one line each."""
  if len(parts) == 1:
    return []  # commands and the top-level modules may import anything
  here, found = parts[0], []
  for target, line in _imports(path):
    there = target[0]
    if there in COMMANDS:
      found.append(f"{'/'.join(parts)}.py:{line} imports the command "
                   f"{there}")
    elif there in RANK and RANK[there] > RANK[here]:
      found.append(f"{'/'.join(parts)}.py:{line} ({here}) imports "
                   f"{'.'.join(target)} (a higher layer: {there})")
  return found


def test_no_package_imports_a_higher_layer():
  violations = [v for parts, path in _modules()
                for v in _layer_violations(parts, path)]
  assert not violations, "\n".join(violations)


def test_the_check_sees_lazy_imports_of_higher_layers_and_commands(
    tmp_path):
  probe = tmp_path / "probe.py"
  probe.write_text("from hcsc_jax.method import losses\n"
                   "def f():\n"
                   "  from hcsc_jax.training import train\n"
                   "  from hcsc_jax import evaluate\n")
  found = _layer_violations(["runtime", "probe"], str(probe))
  assert found == [
      "runtime/probe.py:3 (runtime) imports training (a higher layer: "
      "training)", "runtime/probe.py:4 imports the command evaluate"]


def test_data_paths_stand_on_the_data_sets_not_on_each_other():
  violations = []
  for parts, path in _modules():
    if parts[0] != "data" or len(parts) < 2 or parts[1] == "__init__":
      continue
    here = parts[1]
    for target, line in _imports(path):
      if target[0] != "data" or len(target) < 2:
        continue
      there = target[1]
      if DATA_LAYERS[there] > DATA_LAYERS[here] or {here, there} == {
          "device", "tfdata"}:
        violations.append(f"{'/'.join(parts)}.py:{line} imports "
                          f"{'.'.join(target)}")
  assert not violations, "\n".join(violations)


def test_every_command_the_readme_names_is_a_command():
  readme = os.path.join(os.path.dirname(ROOT), "README.md")
  with open(readme, encoding="utf-8") as f:
    named = set(re.findall(r"python -m hcsc_jax\.(\w+)", f.read()))
  assert named and named <= COMMANDS | {"benchmark"}, named - COMMANDS
  assert os.path.isfile(os.path.join(ROOT, "benchmark", "__main__.py"))
