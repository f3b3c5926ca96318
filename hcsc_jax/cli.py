"""Start-up shared by the command lines: config overrides checked before
absl parses them, joining a multi-process run, the log filter, and the
errors that end a command with one line.

ml_collections reports an unknown `--config.<field>` as three chained
tracebacks ending in AttributeError; `exit_on_unknown_overrides` reads the
config file first and names the field and the closest valid one instead.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

# Every command: `python -m hcsc_jax.<name>` or `hcsc <name>`.
COMMANDS = {
    "main": "pre-train HCSC (or MoCo v2) from a config into a workdir",
    "evaluate": "kNN, linear, semi-supervised and clustering protocols",
    "knn_baselines": "kNN of the raw pixels and of a random network",
    "study": "every variant x seed, then the table with paired intervals",
    "select": "which images to label first, or next (--labels)",
    "predict": "label a whole collection from a few labels, with doubts",
    "export_labels": "the labelled collection as class folders",
    "simulate_labelling": "simulated labelling rounds with a known oracle",
    "hierarchy": "a run's taxonomy as files and a browsable page",
    "visualize": "the hierarchy report (figures, HTML)",
    "embed": "features of images with a workdir's encoder",
    "export": "a workdir as PyTorch / torchvision / detectron2 / safetensors",
    "import_torch": "a PyTorch HCSC/MoCo checkpoint as a workdir",
    "write_fashion_mnist_folder": "Debian's Fashion-MNIST as PNG folders",
    "benchmark": "speed measurements (steps, k-means, input paths)",
}


def console() -> None:
  """The `hcsc` console script: `hcsc <command> [flags]` runs
  `python -m hcsc_jax.<command> [flags]`."""
  import runpy  # pylint: disable=g-import-not-at-top
  args = sys.argv[1:]
  if not args or args[0] in ("-h", "--help", "help"):
    width = max(len(n) for n in COMMANDS)
    print("usage: hcsc <command> [flags]   (= python -m hcsc_jax.<command>)"
          "\ncommands:\n" + "\n".join(
              f"  {n:<{width}}  {d}" for n, d in COMMANDS.items())
          + "\n`hcsc <command> --help` lists a command's flags.")
    sys.exit(0 if args else 2)
  name = args[0]
  if name not in COMMANDS:
    close = difflib.get_close_matches(name, list(COMMANDS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    print(f"error: hcsc has no command {name!r}{hint} (hcsc --help lists "
          "them).", file=sys.stderr)
    sys.exit(2)
  sys.argv = [f"hcsc {name}"] + args[1:]
  runpy.run_module(f"hcsc_jax.{name}", run_name="__main__", alter_sys=True)


def _load(path: str):
  name, _, arg = path.partition(":")
  if not os.path.exists(name):
    raise FileNotFoundError(f"--config={path}: {name} does not exist.")
  spec = importlib.util.spec_from_file_location("cli_config", name)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _fields(config, prefix: str = "") -> list[str]:
  out = []
  for name in config.keys():
    value = config[name]
    dotted = f"{prefix}{name}"
    out.append(dotted)
    if hasattr(value, "keys") and not isinstance(value, dict):
      out.extend(_fields(value, dotted + "."))
  return out


def _exists(config, dotted: str) -> bool:
  node = config
  for name in dotted.split("."):
    if not hasattr(node, "keys") or name not in node.keys():
      return False
    node = node[name]
  return True


def unknown_overrides(argv: Sequence[str], flag: str = "config"
                      ) -> list[str]:
  """One line per `--<flag>.<field>` naming a field the config lacks."""
  path, overrides = None, []
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{flag}="):
      path = arg.split("=", 1)[1]
    elif arg == f"--{flag}" and i + 1 < len(argv):
      path = argv[i + 1]
    elif arg.startswith(f"--{flag}."):
      overrides.append(arg[len(flag) + 3:].split("=", 1)[0])
  if path is None or not overrides:
    return []
  config = _load(path)
  fields = _fields(config)
  problems = []
  for dotted in overrides:
    if not _exists(config, dotted):
      close = difflib.get_close_matches(dotted, fields, n=1, cutoff=0.5)
      hint = f"; did you mean {close[0]!r}?" if close else "."
      problems.append(f"--{flag}.{dotted}: {path} has no field "
                      f"{dotted!r}{hint}")
  return problems


def define_checkpoint_flags() -> None:
  """--step and --epoch: how every command names a checkpoint."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
  flags.DEFINE_integer("epoch", None, "Instead of --step: the checkpoint "
                       "written at the end of this epoch.")


def checkpoint_step(workdir: str):
  """The step --step or --epoch names in `workdir` (None: the latest)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from hcsc_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  step, epoch = flags.FLAGS.step, flags.FLAGS.epoch
  if step is not None and epoch is not None:
    raise ConfigError(f"--step={step} and --epoch={epoch}: name the "
                      "checkpoint one way, not both.")
  if epoch is None:
    return step
  from hcsc_jax.workdir import restore  # pylint: disable=g-import-not-at-top
  return restore.step_of_epoch(workdir, epoch)


def warn_deprecated_spellings(argv: Sequence[str] | None = None) -> None:
  """Old spellings keep working, with one line saying the new one."""
  for arg in (sys.argv[1:] if argv is None else argv):
    if arg.startswith("--config.step="):
      print(f"warning: {arg} is deprecated; use --step="
            f"{arg.split('=', 1)[1]} (every command names a checkpoint "
            "with --step or --epoch).", file=sys.stderr, flush=True)


def exit_on_unknown_overrides(flag: str = "config") -> None:
  """Before absl runs: unknown config fields end the command, one line each."""
  try:
    problems = unknown_overrides(sys.argv[1:], flag)
  except FileNotFoundError as e:
    problems = [str(e)]
  if problems:
    for line in problems:
      print(f"error: {line}", file=sys.stderr)
    sys.exit(1)


def user_errors() -> tuple[type, ...]:
  """Exceptions that end a command with `error: <one line>`: bad config or
  input, a busy or damaged workdir, a failed write, a non-finite loss, and
  what escapes from TensorFlow's input pipeline (when it is loaded)."""
  from hcsc_jax import errors as hcsc_errors  # pylint: disable=g-import-not-at-top
  errors = [hcsc_errors.ConfigError, hcsc_errors.InputExhaustedError,
            hcsc_errors.DiskFullError,
            hcsc_errors.WorkdirBusyError, hcsc_errors.CheckpointWriteError,
            hcsc_errors.CheckpointDamagedError, hcsc_errors.WorkdirError,
            hcsc_errors.DataPreparationError, hcsc_errors.NonFiniteLossError,
            FileNotFoundError, OSError]
  if "tensorflow" in sys.modules:
    errors.append(sys.modules["tensorflow"].errors.OpError)
  return tuple(errors)


# What to do when a disk fills, said after the line naming the file; a
# command that knows more (the trainer: the step it resumes from) sets it.
_DISK_FULL = {"path": None, "advice": lambda: (
    "Free space there (or write to another disk) and rerun the same "
    "command; nothing written before is damaged.")}


def on_disk_full(path: str | None = None,
                 advice: Callable[[], str] | None = None) -> None:
  """Where this command writes (named when the failing file is not known)
  and what to tell the user when that disk fills."""
  if path is not None:
    _DISK_FULL["path"] = path
  if advice is not None:
    _DISK_FULL["advice"] = advice


def _disk_full_line(error: BaseException) -> str | None:
  from hcsc_jax.errors import CheckpointWriteError, DiskFullError  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import disk_space  # pylint: disable=g-import-not-at-top
  cause = disk_space.disk_error_in(error)
  if cause is None or isinstance(error, CheckpointWriteError):
    return None  # (a checkpoint's line already says all of it)
  text = (" ".join(str(error).split()) if isinstance(error, DiskFullError)
          else disk_space.describe(cause, cause.filename or
                                   _DISK_FULL["path"] or _written_path()))
  return f"error: {text}. {_DISK_FULL['advice']()}"


def _written_path() -> str | None:
  """Where the command writes, when the failing file is not known: its
  --output, else its --workdir."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  for name in ("output", "workdir"):
    if name in flags.FLAGS and flags.FLAGS[name].present:
      return flags.FLAGS[name].value
  return None


def error_line(error: BaseException) -> str:
  """`error: ...`; config problems keep their one line per problem; a full
  disk names the file, the free space and what to do."""
  from hcsc_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  if isinstance(error, ConfigError):
    return f"error: {error}"
  disk_full = _disk_full_line(error)
  if disk_full:
    return disk_full
  text = " ".join(str(error).split()) or type(error).__name__
  if type(error).__module__.startswith("tensorflow"):
    text = f"the TensorFlow input pipeline failed ({type(error).__name__}): " + text
  return f"error: {text}"


def join_distributed_run() -> None:
  """Joins a multi-process run from the environment (before anything
  touches the devices); a bad topology ends the command with one line."""
  from hcsc_jax.errors import TopologyError  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import distributed  # pylint: disable=g-import-not-at-top
  try:
    distributed.initialize_from_environment()
  except TopologyError as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)


def log_run_progress() -> None:
  """INFO lines of the run itself; chatty libraries filtered out."""
  from absl import logging  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import reporting  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.INFO)
  reporting.quiet_library_logs()


def report_errors(command: Callable[[], T],
                  extra: tuple[type, ...] = (ValueError,),
                  exit_at_once: bool = False) -> T:
  """`command()`; a user error (`user_errors()` and `extra`) or a full
  disk, whatever library raised it, ends the process with one `error: ...`
  line and exit status 1. `exit_at_once`
  skips the interpreter's shutdown (a trainer whose checkpoint write
  failed still has orbax's native threads, which would print tracebacks
  while it finalises): everything it owns is written or cut back."""
  from hcsc_jax.runtime import disk_space  # pylint: disable=g-import-not-at-top
  try:
    return command()
  except Exception as e:  # pylint: disable=broad-except
    known = isinstance(e, user_errors() + tuple(extra))
    if not known and disk_space.disk_error_in(e) is None:
      raise  # a bug: its traceback is worth seeing
    print(error_line(e), file=sys.stderr, flush=True)
    if exit_at_once:
      sys.stdout.flush()
      os._exit(1)  # pylint: disable=protected-access
    sys.exit(1)


def skipped_files_line(skipped) -> list[str]:
  """The line that counts unusable input files and names the first."""
  if not skipped:
    return []
  return [f"skipped {len(skipped)} unusable file(s); first: "
          f"{skipped[0][0]} ({skipped[0][1]})"]


def printing_main(command: Callable[[], str]):
  """absl's `main` for a command that prints what `command()` returns
  (its one-line errors as report_errors makes them)."""
  def main(argv):
    from absl import app  # pylint: disable=g-import-not-at-top
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    log_run_progress()
    print(report_errors(command))
  return main


def exit_after_preemption(status: int = 0) -> None:
  """Exit at once (0 after SIGTERM, 130 after Ctrl-C) once a stopped run
  has written its checkpoint.

  A phase abandoned on SIGTERM (compilation, k-means) may still run in a
  worker thread inside native code; letting the interpreter finalise
  under it aborts the process, so skip finalisation: everything the run
  owns is already written and closed.
  """
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # pylint: disable=protected-access
