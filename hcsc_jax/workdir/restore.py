"""Reading a pre-training workdir back: its config, dataset size and latest
(or a chosen) checkpoint, for the tools that come after training (export,
embed, evaluation)."""

from __future__ import annotations

import json
import os
import time

from absl import logging
import flax.traverse_util
import jax
import ml_collections
import numpy as np

from hcsc_jax.errors import CheckpointDamagedError
from hcsc_jax.errors import ConfigError
from hcsc_jax.errors import WorkdirError
from hcsc_jax.workdir import checkpoints as checkpointing
from hcsc_jax.runtime import records
from hcsc_jax.runtime import reporting
from hcsc_jax.runtime import sharding
from hcsc_jax.engine import state as state_lib
from hcsc_jax.workdir import layout as workdir_layout

RUN_INFO = workdir_layout.RUN_INFO
CONFIG = workdir_layout.CONFIG
# Config fields that fix the shapes (or meaning) of the checkpointed state.
SHAPE_FIELDS = ("arch", "width", "small_stem", "embed_dim", "queue_size",
                "use_hierarchy", "num_clusters", "data.name",
                "data.train_split")


def check_writable(workdir: str) -> None:
  """Creates the workdir and writes a probe file, so an unusable workdir
  fails before any data is read or any step compiled."""
  probe = os.path.join(workdir, f".write_probe_{jax.process_index()}")
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f"workdir {workdir} is not writable ({e}); pass a "
                       "--workdir you can write to.") from None


def _field(config, dotted: str):
  node = config
  for name in dotted.split("."):
    node = node.get(name) if hasattr(node, "get") else None
  return json.loads(json.dumps(node, default=list))  # tuples -> lists


def shape_changes(saved, config) -> list[str]:
  """`field: saved -> new` for each SHAPE_FIELDS entry that differs."""
  return [f"{f}: {_field(saved, f)!r} -> {_field(config, f)!r}"
          for f in SHAPE_FIELDS if _field(saved, f) != _field(config, f)]


def _flat(tree, prefix: str = "") -> dict:
  out = {}
  for name, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{name}."))
    else:
      out[f"{prefix}{name}"] = value
  return out


def config_differences(saved, config) -> list[str]:
  """`field: saved -> new` for every config field whose value differs."""
  old = _flat(json.loads(json.dumps(saved.to_dict(), default=list)))
  new = _flat(json.loads(config.to_json_best_effort()))
  return [f"{field}: {old.get(field)!r} -> {new.get(field)!r}"
          for field in sorted(set(old) | set(new))
          if old.get(field) != new.get(field)]


# Fields a resumed run may change: how it is run and reported, not what it
# computes. Any other change is refused (or needs reset_from).
RESUMABLE_FIELDS = ("log_every", "checkpoint_every", "keep_checkpoints",
                    "eval_every", "visualize_every", "visualize_sample",
                    "embed_batch_size", "skip_nonfinite_steps",
                    "lock_timeout_s", "reset_from", "knn.", "kmeans.backend",
                    "data.data_dir", "data.manual_dir", "data.threads",
                    "data.device_prefetch", "data.cache", "data.cache_dir",
                    "data.folder_input", "data.memory_budget_gb")
CONFIG_HISTORY = workdir_layout.CONFIG_HISTORY


def _resumable(change: str) -> bool:
  field = change.split(":", 1)[0]
  return any(field == f or (f.endswith(".") and field.startswith(f))
             for f in RESUMABLE_FIELDS)


def recipe_changes(saved, config) -> list[str]:
  """The differences a resume may not make: everything outside
  RESUMABLE_FIELDS."""
  return [c for c in config_differences(saved, config) if not _resumable(c)]


def accept_resume_changes(workdir: str, saved, config) -> list[str]:
  """Refuses a resume that changes the recipe (every changed field listed);
  bookkeeping changes are logged, written to config.json and appended to
  config_history.jsonl. Returns the accepted changes."""
  changes = config_differences(saved, config)
  refused = recipe_changes(saved, config)
  if refused:
    raise ConfigError(
        f"{workdir} holds a run with another recipe; resuming would mix "
        f"two: {'; '.join(refused)}. Resume with the original values, use "
        "another --workdir, or pass --config.reset_from=<workdir> to start a "
        "new run from its weights.")
  if changes and jax.process_index() == 0:
    logging.warning("resuming %s with changed settings: %s", workdir,
                    "; ".join(changes))
    records.append(os.path.join(workdir, CONFIG_HISTORY),
                   {"time": time.time(), "changes": changes})
    save_config(config, workdir)
  return changes


def save_config(config, workdir: str) -> None:
  """`<workdir>/config.json`, written by the lead process."""
  if jax.process_index() == 0:
    with open(os.path.join(workdir, CONFIG), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))


def save_run_info(workdir: str, num_examples: int) -> None:
  """What restoring the state needs beyond the config (the dataset size
  fixes the shape of the hierarchy's assignment arrays)."""
  with open(os.path.join(workdir, RUN_INFO), "w") as f:
    json.dump({"num_examples": int(num_examples)}, f)


def _parse_object(path: str) -> tuple[dict | None, str | None]:
  """(the JSON object in `path`, None) or (None, what is wrong with it)."""
  try:
    with open(path) as f:
      record = json.load(f)
  except FileNotFoundError:
    return None, "is missing"
  except (ValueError, UnicodeDecodeError) as e:
    return None, f"is damaged (not valid JSON: {e})"
  if not isinstance(record, dict):
    return None, f"is damaged (a JSON {type(record).__name__}, not an object)"
  return record, None


def read_run_file(workdir: str, name: str) -> dict:
  """A workdir record (config.json, run_info.json) as a dict; when it is
  missing or damaged, the copy carried by the newest intact checkpoint is
  written back (the damaged file kept as `<name>.damaged`), saying so.
  Without a copy: one line naming the file (WorkdirError), or
  FileNotFoundError when the workdir has no such file and no checkpoint."""
  path = os.path.join(workdir, name)
  record, problem = _parse_object(path)
  if record is not None:
    return record
  carried = checkpointing.carried_record(
      os.path.join(workdir, workdir_layout.CHECKPOINTS), name)
  if carried is None:
    if problem == "is missing":
      found = (f"it holds {sorted(os.listdir(workdir))}"
               if os.path.isdir(workdir) else "it does not exist")
      raise FileNotFoundError(
          f"{path} not found: {workdir} is not a pre-training workdir "
          f"({found}; run hcsc_jax.main or hcsc_jax.import_torch into it "
          "first).")
    raise WorkdirError(
        f"{path} {problem}, and no intact checkpoint in {workdir} carries a "
        "copy of it; restore the file from a backup or start again in "
        "another --workdir.")
  step, text = carried
  if jax.process_index() == 0:
    kept = ""
    if os.path.exists(path):
      kept = f" (the damaged file is kept as {reporting.set_aside(path)})"
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
      f.write(text)
    os.replace(tmp, path)
    logging.warning("%s %s; restored it from checkpoint step %d%s.", path,
                    problem, step, kept)
  return json.loads(text)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, CONFIG)
  config = ml_collections.ConfigDict(read_run_file(workdir, CONFIG))
  added = complete_saved_config(config)
  if added:
    logging.info("%s predates config fields %s; using the values its run "
                 "had.", path, ", ".join(added))
  return config


# Fields added to the configs after runs were already saved, with the value
# that reproduces what such a run did. Filling them in when a config.json is
# read lets every module read its fields directly (no `.get(key, default)`).
ADDED_FIELDS = {
    "max_steps_per_epoch": None,
    "skip_nonfinite_steps": False,
    "lock_timeout_s": 600,
    "eval_every": 0,
    "visualize_every": 0,
    "reset_from": None,
    "augment.on_device": False,
    "kmeans.backend": "faiss",
    "data.pipeline": "tfdata",
    "data.data_dir": None,
    "data.manual_dir": None,
    "data.num_shards": None,
    "data.device_prefetch": 2,
    "data.threads": 0,
    "data.preload_size": 0,
    "data.folder_input": "auto",
    "data.memory_budget_gb": 4.0,
    "knn.label_fractions": (),
    "knn.pixel_baseline": False,
    "knn.label_selection": "",
}


def complete_saved_config(config: ml_collections.ConfigDict) -> list[str]:
  """Adds each missing ADDED_FIELDS entry (in place); returns their names."""
  added = []
  with config.unlocked():
    for dotted, value in ADDED_FIELDS.items():
      *blocks, name = dotted.split(".")
      node = config
      for block in blocks:
        node = node[block] if block in node else None
        if node is None:
          break
      if node is not None and name not in node:
        node[name] = value
        added.append(dotted)
  return added


def restore(workdir: str, step: int | None = None):
  """(state, position, config, model) of a workdir's checkpoint (the latest
  unless `step`), verified: a damaged checkpoint or one with non-finite
  values is named, with the newest one whose files are intact."""
  config = load_config(workdir)
  num_examples = read_run_file(workdir, RUN_INFO)["num_examples"]
  checkpoints = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
  available = checkpoints.all_steps()
  if not available:
    found = sorted(os.listdir(workdir))
    raise FileNotFoundError(
        f"no checkpoint in {checkpoints.directory} (the workdir holds "
        f"{found}); train first, or pass a PyTorch file with "
        "--config.checkpoint.")
  if step is not None and step not in available:
    raise ValueError(f"--step={step} has no checkpoint in "
                     f"{checkpoints.directory}; available: {available}.")
  step = available[-1] if step is None else step
  mesh = sharding.make_mesh()
  parts, abstract = state_lib.new_state(config, num_examples, mesh,
                                        abstract=True)
  model = parts.model
  problem, restored = checkpoints.problem(step, abstract)
  if problem is not None:
    intact = [s for s in available if s != step and
              checkpointing.check_files(checkpoints.step_directory(s)) is None]
    checkpoints.close()
    hint = (f"the newest checkpoint with intact files is step {intact[-1]}: "
            f"pass --step={intact[-1]}" if intact else
            "no other checkpoint has intact files")
    raise CheckpointDamagedError(
        f"checkpoint step {step} in {checkpoints.directory} is damaged: "
        f"{problem}; {hint}.")
  checkpoints.close()
  state, position = restored
  return jax.device_get(state), position, config, model


def set_aside_checkpoints(workdir: str, checkpoints, keep: int):
  """Moves the workdir's checkpoints, config and run info into
  `<workdir>/before_reset_<step>/` (itself a workdir that tools can read)
  and returns a Checkpointer on the now empty checkpoint folder."""
  step = checkpoints.latest_step()
  checkpoints.close()
  target = os.path.join(workdir, f"{workdir_layout.RESET_PREFIX}{step}")
  suffix = 1
  while os.path.exists(target):
    target = os.path.join(workdir,
                          f"{workdir_layout.RESET_PREFIX}{step}_{suffix}")
    suffix += 1
  os.makedirs(target)
  for name in workdir_layout.RUN_STATE:
    if os.path.exists(os.path.join(workdir, name)):
      os.replace(os.path.join(workdir, name), os.path.join(target, name))
  logging.warning("config changed shapes; previous checkpoints moved to %s",
                  target)
  return checkpointing.Checkpointer(workdir, keep)


def _reset_source(source: str) -> str:
  """`source`, or the copy set aside inside it when it was just reset."""
  saved = os.path.join(source, workdir_layout.CHECKPOINTS)
  if os.path.isdir(saved) and any(p.isdigit() for p in os.listdir(saved)):
    return source
  aside = sorted((p for p in os.listdir(source) if p.startswith(
      workdir_layout.RESET_PREFIX)), key=lambda p: os.path.getmtime(
          os.path.join(source, p))) if os.path.isdir(source) else []
  return os.path.join(source, aside[-1]) if aside else source


def start_from_weights(state, source: str, tx):
  """A fresh state whose encoders (query and key) come from `source`'s
  latest checkpoint. The backbone must fit; a head of another size stays
  freshly initialised."""
  del tx  # the fresh state's optimiser state (zero momentum) is kept
  source = _reset_source(source)
  old, _, old_config, _ = restore(source)
  fresh_heads = []

  def take(new_tree, old_tree, tree_name):
    new_flat = flax.traverse_util.flatten_dict(new_tree, sep="/")
    old_flat = flax.traverse_util.flatten_dict(old_tree, sep="/")
    out = {}
    for path, new in new_flat.items():
      previous = old_flat.get(path)
      if previous is not None and previous.shape == new.shape:
        out[path] = jax.device_put(np.asarray(previous, new.dtype),
                                   new.sharding)
      elif path.startswith("fc"):
        out[path] = new
        fresh_heads.append(f"{tree_name}/{path}")
      else:
        raise ConfigError(
            f"reset_from={source} holds {old_config.arch} (width "
            f"{old_config.width}) weights; {tree_name}/{path} does not fit "
            "the new architecture. reset_from keeps the backbone, so only "
            "head, queue and cluster settings may change with it.")
    return flax.traverse_util.unflatten_dict(out, sep="/")

  state = state.replace(
      params=take(state.params, old.params, "params"),
      batch_stats=take(state.batch_stats, old.batch_stats, "batch_stats"),
      key_params=take(state.key_params, old.key_params, "key_params"),
      key_batch_stats=take(state.key_batch_stats, old.key_batch_stats,
                           "key_batch_stats"))
  if fresh_heads:
    logging.warning("reset_from: head weights re-initialised (shape "
                    "changed): %s", fresh_heads)
  return state


def checkpoint_positions(workdir: str) -> dict[int, checkpointing.Position]:
  """{step: Position} of every checkpoint in the workdir."""
  config = load_config(workdir)
  checkpoints = checkpointing.Checkpointer(workdir, config.keep_checkpoints)
  positions = {step: checkpoints.position(step)
               for step in checkpoints.manager.all_steps()}
  checkpoints.close()
  return positions


def step_of_epoch(workdir: str, epoch: int) -> int:
  """The step of the checkpoint written at the end of `epoch` (after that
  many epochs); ConfigError listing the epochs there are otherwise."""
  from hcsc_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  positions = checkpoint_positions(workdir)
  matching = [s for s, p in positions.items()
              if p.epoch == epoch and p.step_in_epoch == 0]
  if not matching:
    raise ConfigError(
        f"--epoch={epoch}: no checkpoint was written after epoch {epoch}; "
        f"available: {sorted({p.epoch for p in positions.values()})}.")
  return max(matching)


def resume_advice(workdir: str) -> str:
  """What to do after a full disk stopped a run in `workdir`: the step a
  rerun resumes from (read from the checkpoint folders' names, without
  opening orbax)."""
  folder = os.path.join(workdir, workdir_layout.CHECKPOINTS)
  steps = sorted(int(n) for n in (os.listdir(folder) if os.path.isdir(folder)
                                  else []) if n.isdigit())
  where = (f"training resumes from checkpoint step {steps[-1]}" if steps
           else "no checkpoint was written yet, so training starts over")
  return ("Free space there, or move the whole workdir to a roomier disk, "
          "and rerun the same command (with --workdir=<its new place> if "
          f"moved): {where}.")
