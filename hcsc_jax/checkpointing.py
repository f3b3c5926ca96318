"""Orbax checkpoints of the whole train state plus a JSON record of where the
run stands (epoch, step within it), so a restart continues identically.

Orbax writes each step to a temporary directory and renames it when complete,
so a crash mid-write never leaves a checkpoint that `latest_step` would pick.
Saves are synchronous: once per epoch they cost seconds at ImageNet scale,
and `save` returning means the checkpoint is on disk.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import orbax.checkpoint as ocp


@dataclasses.dataclass(frozen=True)
class Position:
  """Where a run stands: `epoch` in progress, `step_in_epoch` steps of it
  done, and whether that epoch's hierarchy is already in the state."""
  epoch: int = 0
  step_in_epoch: int = 0
  clustered: bool = False

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


class CheckpointWriteError(OSError):
  """A checkpoint could not be written; earlier ones are untouched."""


def _os_error_in(error: BaseException) -> OSError | None:
  """The OSError in `error`'s cause chain (orbax wraps I/O failures)."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, OSError):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


class Checkpointer:
  """Saves and restores (state, Position) under `<workdir>/checkpoints`."""

  def __init__(self, workdir: str, keep: int):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             enable_async_checkpointing=False))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, position: Position) -> bool:
    """Writes step `step`; a failed write (full disk, lost mount) raises
    CheckpointWriteError and leaves the earlier checkpoints as they were."""
    if self.manager.latest_step() == step:
      return False
    try:
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state),
          position=ocp.args.JsonSave(position.to_json())))
    except Exception as e:  # pylint: disable=broad-except
      cause = _os_error_in(e)
      if cause is None:
        raise
      kept = sorted(s for s in self.manager.all_steps() if s != step)
      raise CheckpointWriteError(
          f"could not write checkpoint step {step} to {self.directory} "
          f"({cause}); earlier checkpoints are intact: {kept}. Free space "
          "(or fix the mount) and rerun the same command to resume from "
          f"step {kept[-1] if kept else 0}.") from e
    return True

  def restore(self, abstract_state, step: int | None = None):
    step = self.manager.latest_step() if step is None else step
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        position=ocp.args.JsonRestore()))
    return restored["state"], Position(**restored["position"])

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
