"""Every command line the README and the documentation show is real: the
command exists, each flag it passes is a flag of that command, and each
`--config.<field>` is a field of the config the line names. The commands
table lists every command; the site builds with warnings as errors; the
README stays short."""

import ast
import glob
import os
import re
import subprocess
import sys


from hcsc_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The dated benchmark history keeps its commands as they were run then.
DOCS = [os.path.join(ROOT, "README.md")] + sorted(
    p for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))
    if not p.endswith("benchmarks_history.md"))
# Flags absl gives every command.
ABSL = {"help", "helpfull", "helpshort", "helpxml", "flagfile", "undefok",
        "logtostderr", "alsologtostderr", "verbosity", "v", "log_dir",
        "stderrthreshold", "only_check_args"}
LAUNCHERS = {"demo.sh": "main", "single_node.sh": "main",
             "slurm.sbatch": "main", "tpu_pod.sh": "main"}


def _logical_lines(text):
  """Lines with backslash continuations joined, code fences dropped."""
  joined, current = [], ""
  for line in text.splitlines():
    if line.rstrip().endswith("\\"):
      current += line.rstrip()[:-1] + " "
      continue
    joined.append(current + line)
    current = ""
  return joined


def command_lines(path):
  """(command, [tokens]) for each `python -m hcsc_jax.<command> ...` and
  `bash launch/<x> ...` in `path`, inline code spans included."""
  with open(path, encoding="utf-8") as f:
    text = f.read()
  found = []
  for line in _logical_lines(text):
    spans = re.findall(r"`([^`]*)`", line) if "`" in line else [line]
    for span in spans:
      for match in re.finditer(
          r"(?:python -m hcsc_jax\.([\w.]+)|\bhcsc (\w+)|bash launch/"
          r"([\w.]+)|sbatch [^`]*?launch/([\w.]+))(.*)", span):
        command = (match.group(1) or match.group(2) or
                   "launch/" + (match.group(3) or match.group(4)))
        rest = re.split(r"\s(?:#|&&|;|\|)\s", match.group(5))[0]
        found.append((command, rest.split()))
  return found


def _flags_of_module(name):
  """The flags a command module defines (absl, argparse, cli helpers)."""
  path = os.path.join(ROOT, "hcsc_jax", *name.split(".")) + ".py"
  if not os.path.exists(path):
    path = os.path.join(ROOT, "hcsc_jax", name, "run.py")
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read())
  names = set(ABSL)
  for node in ast.walk(tree):
    if not isinstance(node, ast.Call):
      continue
    func = node.func
    attr = getattr(func, "attr", "")
    first = node.args[0] if node.args else None
    literal = (first.value if isinstance(first, ast.Constant)
               and isinstance(first.value, str) else None)
    if attr.startswith("DEFINE") and literal:
      names.add(literal)
      if attr in ("DEFINE_bool", "DEFINE_boolean"):
        names.add("no" + literal)
    elif attr == "add_argument" and literal and literal.startswith("--"):
      names.add(literal[2:].replace("-", "_"))
      names.add(literal[2:])
      if any(k.arg == "action" and getattr(k.value, "value", "") ==
             "store_true" for k in node.keywords):
        names.add("no" + literal[2:])
    elif attr == "define_checkpoint_flags":
      names.update({"step", "epoch"})
  return names


def _config_fields(config_path):
  if "<" in config_path:
    return None
  from hcsc_jax.runtime import config_paths  # pylint: disable=g-import-not-at-top
  resolved = config_paths.packaged(config_path) or config_path
  name, _, arg = resolved.partition(":")
  full = name if os.path.isabs(name) else os.path.join(ROOT, name)
  assert os.path.exists(full), f"--config={config_path} does not exist"
  return cli._fields(cli._load(full + (":" + arg if arg else "")))  # pylint: disable=protected-access


def _problems(command, tokens, where):
  problems = []
  if command.startswith("launch/"):
    script = os.path.join(ROOT, command)
    if not os.path.exists(script):
      return [f"{where}: {command} does not exist"]
    target = LAUNCHERS.get(os.path.basename(command))
    with open(script, encoding="utf-8") as f:
      text = f.read()
    flags = None if target else set(re.findall(r"--(\w+)", text)) | {"help"}
    config = ("configs/fashion_mnist.py" if os.path.basename(command) ==
              "demo.sh" else next((t for t in tokens if t.startswith(
                  "configs/")), None))
  else:
    if command.split(".")[0] not in cli.COMMANDS:
      return [f"{where}: hcsc_jax.{command} is not a command"]
    flags = _flags_of_module(command)
    config = next((t.split("=", 1)[1] for t in tokens
                   if t.startswith("--config=")), None)
  fields = None
  for token in tokens:
    token = token.strip("[],.;:()'\"")
    if not token.startswith("--") or token == "--":
      continue
    name = token[2:].split("=", 1)[0]
    if name.startswith("config."):
      field = name[len("config."):]
      if "<" in field:
        continue
      if config is None:
        problems.append(f"{where}: {token} without a --config")
        continue
      fields = fields if fields is not None else _config_fields(config)
      if fields is not None and field not in fields:
        problems.append(f"{where}: {config} has no field {field!r}")
    elif "<" in name:
      continue
    elif flags is not None and name not in flags:
      problems.append(f"{where}: {command} has no flag --{name}")
  return problems


def test_every_command_line_in_the_docs_is_real():
  problems, checked = [], 0
  for path in DOCS:
    for command, tokens in command_lines(path):
      checked += 1
      problems += _problems(command, tokens, os.path.relpath(path, ROOT))
  assert checked > 40, checked  # the parser still finds the lines
  assert not problems, "\n".join(problems)


def test_the_check_catches_a_wrong_flag_and_a_wrong_field(tmp_path):
  page = tmp_path / "page.md"
  page.write_text(
      "    python -m hcsc_jax.select --workdir=w --budgett=5\n"
      "    python -m hcsc_jax.main --config=configs/fashion_mnist.py \\\n"
      "        --config.knn.kk=5 --workdir=w\n"
      "and inline `python -m hcsc_jax.nothing --x=1`\n")
  problems = [p for c, t in command_lines(str(page))
              for p in _problems(c, t, "page")]
  assert problems == [
      "page: select has no flag --budgett",
      "page: configs/fashion_mnist.py has no field 'knn.kk'",
      "page: hcsc_jax.nothing is not a command"]


def test_the_commands_tables_list_every_command():
  for path in (os.path.join(ROOT, "README.md"),
               os.path.join(ROOT, "docs", "commands.md")):
    with open(path, encoding="utf-8") as f:
      text = f.read()
    listed = set(re.findall(r"^\| `(\w+)` \|", text, re.M))
    assert set(cli.COMMANDS) <= listed, (path, set(cli.COMMANDS) - listed)


def test_the_readme_is_short():
  with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    assert len(f.read().splitlines()) <= 210


def test_the_site_builds_with_warnings_as_errors(tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "mkdocs", "build", "--strict", "-d",
       str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
      timeout=600, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
      check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  assert (tmp_path / "site" / "api" / "index.html").exists()
  with open(tmp_path / "site" / "api" / "index.html", encoding="utf-8") as f:
    assert "instance_selection_probs" in f.read()
