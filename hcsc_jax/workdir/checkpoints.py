"""Orbax checkpoints of the whole train state plus a JSON record of where the
run stands (epoch, step within it), so a restart continues identically.

Orbax writes each step to a temporary directory and renames it when complete,
so a crash mid-write never leaves a checkpoint that `latest_step` would pick.
Saves are synchronous: once per epoch they cost seconds at ImageNet scale,
and `save` returning means the checkpoint is on disk.

Each finished checkpoint also gets a manifest (`hcsc_manifest.json`: every
file's size and SHA-256), so damage done afterwards (a truncated, overwritten
or deleted file, lost metadata) is found before restoring: `restore_intact`
moves a damaged checkpoint to `checkpoints_damaged/<step>/` and falls back
to the newest intact one. Checkpoints without a manifest (older workdirs,
or a crash between orbax's rename and the manifest) are checked for their
required files and by restoring them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import threading
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from hcsc_jax.errors import CheckpointDamagedError
from hcsc_jax.errors import CheckpointWriteError
from hcsc_jax.runtime import disk_space
from hcsc_jax.workdir import layout as workdir_layout

MANIFEST = workdir_layout.CHECKPOINT_MANIFEST
DAMAGED = workdir_layout.DAMAGED_CHECKPOINTS
# What every complete checkpoint holds, whatever orbax writes besides.
REQUIRED_FILES = ("_CHECKPOINT_METADATA", "state/_METADATA",
                  "position/metadata")


@dataclasses.dataclass(frozen=True)
class Position:
  """Where a run stands: `epoch` in progress, `step_in_epoch` steps of it
  done, and whether that epoch's hierarchy is already in the state."""
  epoch: int = 0
  step_in_epoch: int = 0
  clustered: bool = False

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Damage:
  step: int
  problem: str
  moved_to: str | None = None

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def _quiet_closed_loop_reports() -> None:
  """After a write fails (a full disk), orbax's writer callbacks find
  their event loop closed and report it, one traceback each (through
  threading's hook, or as "unraisable" from native threads); the save's
  own error already says what failed, so those reports are dropped
  (every other one is reported as before)."""
  def closed_loop(error) -> bool:
    return (isinstance(error, RuntimeError)
            and str(error) == "Event loop is closed")

  def quiet(previous):
    def hook(args):
      if not closed_loop(args.exc_value):
        previous(args)
    hook.hcsc_quiet = True
    return hook

  if not getattr(threading.excepthook, "hcsc_quiet", False):
    threading.excepthook = quiet(threading.excepthook)
  if not getattr(sys.unraisablehook, "hcsc_quiet", False):
    sys.unraisablehook = quiet(sys.unraisablehook)


def _one_line(error: BaseException) -> str:
  text = " ".join(str(error).split())
  return f"{type(error).__name__}: {text[:300]}"


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _files(directory: str) -> list[str]:
  out = []
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      relative = os.path.relpath(path, directory)
      if relative != MANIFEST:
        out.append(relative)
  return sorted(out)


def workdir_records(workdir: str) -> dict[str, str]:
  """The workdir's small files a checkpoint carries a copy of (config.json,
  run_info.json), as text, when they parse: so a damaged or lost one can be
  restored from the newest intact checkpoint."""
  records = {}
  for name in workdir_layout.CARRIED_RECORDS:
    try:
      with open(os.path.join(workdir, name)) as f:
        text = f.read()
      json.loads(text)
    except (OSError, ValueError):
      continue
    records[name] = text
  return records


def write_manifest(directory: str, records: dict[str, str] | None = None
                   ) -> None:
  """Records size and SHA-256 of every file of a finished checkpoint, and
  the copies of the workdir's `records` it was written with."""
  record = {"files": {name: {"size": os.path.getsize(os.path.join(directory,
                                                                   name)),
                             "sha256": _sha256(os.path.join(directory, name))}
                      for name in _files(directory)},
            "records": records or {}}
  tmp = os.path.join(directory, MANIFEST + f".tmp{os.getpid()}")
  with open(tmp, "w") as f:
    json.dump(record, f)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(directory, MANIFEST))


def check_files(directory: str) -> str | None:
  """What is wrong with a checkpoint's files, or None when they are as
  recorded (or, without a manifest, when the required files exist)."""
  manifest = os.path.join(directory, MANIFEST)
  if not os.path.exists(manifest):
    missing = [name for name in REQUIRED_FILES
               if not os.path.exists(os.path.join(directory, name))]
    return f"missing {missing[0]}" if missing else None
  try:
    with open(manifest) as f:
      recorded = json.load(f)["files"]
  except (OSError, ValueError, KeyError) as e:
    return f"unreadable {MANIFEST} ({_one_line(e)})"
  for name, expected in recorded.items():
    path = os.path.join(directory, name)
    if not os.path.exists(path):
      return f"missing {name}"
    size = os.path.getsize(path)
    if size != expected["size"]:
      return f"{name} has {size} bytes, {expected['size']} were written"
    if _sha256(path) != expected["sha256"]:
      return f"{name} does not match its checksum (overwritten or corrupted)"
  return None


def carried_record(checkpoint_directory: str, name: str
                   ) -> tuple[int, str] | None:
  """(step, text) of the newest checkpoint whose files are intact and whose
  manifest carries a copy of the workdir file `name`; None without one."""
  if not os.path.isdir(checkpoint_directory):
    return None
  steps = sorted((int(entry) for entry in os.listdir(checkpoint_directory)
                  if entry.isdigit()), reverse=True)
  for step in steps:
    directory = os.path.join(checkpoint_directory, str(step))
    if check_files(directory) is not None:
      continue
    try:
      with open(os.path.join(directory, MANIFEST)) as f:
        text = json.load(f).get("records", {}).get(name)
    except (OSError, ValueError, AttributeError):
      continue
    if text is not None:
      return step, text
  return None


def nonfinite_leaves(tree) -> list[str]:
  """Paths of floating-point leaves holding NaN or inf."""
  bad = []
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    value = np.asarray(leaf)
    if np.issubdtype(value.dtype, np.floating) and not np.all(
        np.isfinite(value)):
      bad.append(jax.tree_util.keystr(path))
  return bad


class Checkpointer:
  """Saves and restores (state, Position) under `<workdir>/checkpoints`."""

  def __init__(self, workdir: str, keep: int):
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, workdir_layout.CHECKPOINTS)
    self.keep = keep
    self.manager = self._open()

  def _open(self) -> ocp.CheckpointManager:
    _quiet_closed_loop_reports()
    return ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=self.keep, create=True,
            enable_async_checkpointing=False))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def step_directory(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def save(self, step: int, state, position: Position) -> bool:
    """Writes step `step`; a failed write raises CheckpointWriteError naming
    the real cause and leaves the earlier checkpoints as they were."""
    if self.manager.latest_step() == step:
      return False
    try:
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state),
          position=ocp.args.JsonSave(position.to_json())))
      if jax.process_index() == 0:
        write_manifest(self.step_directory(step),
                       workdir_records(self.workdir))
    except Exception as e:  # pylint: disable=broad-except
      cause = disk_space.disk_error_in(e) or disk_space.os_error_in(e)
      if cause is None:
        raise
      self._remove_unfinished(step)
      kept = [s for s in self.all_steps() if s != step]
      detail, advice, moved = str(cause), "Fix the cause and rerun", ""
      if cause.errno in disk_space.DISK_ERRNOS:
        needed = (disk_space.folder_bytes(self.step_directory(kept[-1]))
                  if kept else None)
        free = disk_space.free_bytes(self.directory)
        detail += (f"; {disk_space.size_text(free)} free there, a checkpoint "
                   f"needs about {disk_space.size_text(needed)}")
        advice = ("Free space there, or move the whole workdir to a roomier"
                  " disk, and rerun")
        moved = " (with --workdir=<its new place> if moved)"
      raise CheckpointWriteError(
          f"could not write checkpoint step {step} to {self.directory} "
          f"({detail}); earlier checkpoints are intact: {kept}. {advice} the "
          f"same command{moved} to resume from step "
          f"{kept[-1] if kept else 0}."
      ) from e
    return True

  def _remove_unfinished(self, step: int) -> None:
    """What a failed save of `step` left (orbax's temporary folder, or the
    step without its manifest): it holds space and nothing usable."""
    if jax.process_index() != 0 or not os.path.isdir(self.directory):
      return
    for name in os.listdir(self.directory):
      path = os.path.join(self.directory, name)
      unfinished = name.startswith(f"{step}.") and "tmp" in name
      if name == str(step) and not os.path.exists(
          os.path.join(path, MANIFEST)):
        unfinished = True
      if unfinished:
        shutil.rmtree(path, ignore_errors=True)
    self.manager.reload()

  def restore(self, abstract_state, step: int | None = None):
    step = self.manager.latest_step() if step is None else step
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        position=ocp.args.JsonRestore()))
    return restored["state"], Position(**restored["position"])

  def problem(self, step: int, abstract_state) -> tuple[str | None, Any]:
    """(what is wrong with checkpoint `step` or None, restored (state,
    position) when intact)."""
    problem = check_files(self.step_directory(step))
    if problem is not None:
      return problem, None
    try:
      state, position = self.restore(abstract_state, step)
    except Exception as e:  # pylint: disable=broad-except
      return f"restore failed ({_one_line(e)})", None
    bad = nonfinite_leaves(state)
    if bad:
      return (f"non-finite values in {bad[0]}"
              + (f" and {len(bad) - 1} more" if len(bad) > 1 else ""), None)
    return None, (state, position)

  def restore_intact(self, abstract_state, log: Callable[[str], None]
                     ) -> tuple[Any, Position, list[Damage]]:
    """The newest intact checkpoint; damaged newer ones are moved to
    `<workdir>/checkpoints_damaged/<step>/` (nothing is deleted) and named
    through `log`. Raises CheckpointDamagedError when none is intact."""
    damaged = []
    for step in reversed(self.all_steps()):
      problem, restored = self.problem(step, abstract_state)
      if problem is None:
        if damaged:
          log(f"resuming from step {step}, the newest intact checkpoint.")
        return restored[0], restored[1], damaged
      moved = self._set_aside(step)
      damaged.append(Damage(step, problem, moved))
      log(f"checkpoint step {step} in {self.directory} is damaged: {problem}; "
          f"moved to {moved}.")
    raise CheckpointDamagedError(
        f"no intact checkpoint in {self.directory}: "
        + "; ".join(f"step {d.step}: {d.problem}" for d in damaged)
        + f" (moved to {os.path.join(self.workdir, DAMAGED)}). Start again "
        "in another --workdir, or restore the files.")

  def _set_aside(self, step: int) -> str | None:
    """Moves a damaged step out of orbax's sight; the lead process only."""
    target = os.path.join(self.workdir, DAMAGED, str(step))
    suffix = 1
    while os.path.exists(target):
      target = os.path.join(self.workdir, DAMAGED, f"{step}_{suffix}")
      suffix += 1
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.move(self.step_directory(step), target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices(f"set aside {step}")
    self.manager.close()
    self.manager = self._open()
    return target

  def position(self, step: int) -> Position:
    """The Position saved with `step`, without reading the state."""
    restored = self.manager.restore(step, args=ocp.args.Composite(
        position=ocp.args.JsonRestore()))
    return Position(**restored["position"])

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
