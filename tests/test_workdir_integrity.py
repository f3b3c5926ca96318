"""Workdir integrity: one writer per workdir, checkpoints verified before
use (damaged ones set aside, the run resumes from the newest intact one),
honest write errors, and the mistakes that must end in one clear line."""

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from hcsc_jax import cli
from hcsc_jax import errors
from hcsc_jax.embedding import arrays as embedding_arrays
from hcsc_jax.interchange import interop
from hcsc_jax.workdir import checkpoints as checkpointing
from hcsc_jax.workdir import lock as workdir_lock
from hcsc_jax.training import train
from hcsc_jax.training import validation
from hcsc_jax.workdir import restore as workdirs
from tests.trainer_fixtures import device_smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _params(state):
  return jax.tree.leaves(jax.device_get((state.params, state.key_params,
                                         state.queue, state.batch_stats)))


def _write_lock(directory, **record):
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, workdir_lock.LOCK_FILE), "w") as f:
    json.dump(record, f)


# --- one writer per workdir ------------------------------------------------


def test_a_second_run_on_a_held_workdir_is_refused_naming_the_holder(
    idx_source, tmp_path):
  holder = subprocess.Popen([sys.executable, "-c",
                             "import time; time.sleep(120)"])
  try:
    _write_lock(str(tmp_path), host=socket.gethostname(), pid=holder.pid,
                process_start=workdir_lock._process_start(holder.pid),  # pylint: disable=protected-access
                what="pre-training", started=time.time(),
                heartbeat=time.time(), token="other")
    with pytest.raises(errors.WorkdirBusyError,
                       match=rf"in use by pre-training on host "
                       rf"{socket.gethostname()}, pid {holder.pid}, since "):
      train.train_and_evaluate(device_smoke_config(idx_source),
                               str(tmp_path))
  finally:
    holder.kill()
    holder.wait()
  assert not os.path.exists(tmp_path / "checkpoints")


@pytest.mark.parametrize("record", [
    # the holder's process is gone (this host)
    {"host": socket.gethostname(), "pid": 2**22 + 7, "heartbeat": 0},
    # another host whose heartbeat stopped long ago
    {"host": "elsewhere", "pid": 1, "heartbeat": 1.0},
])
def test_a_stale_lock_is_taken_over_with_a_log_line(tmp_path, record, caplog):
  _write_lock(str(tmp_path), what="pre-training", started=0.0, token="old",
              **record)
  lock = workdir_lock.WorkdirLock(str(tmp_path), "test run",
                                  stale_after_s=60)
  with caplog.at_level("WARNING"):
    lock.acquire()
  try:
    assert "took over the lock" in caplog.text
    with open(lock.path) as f:
      assert json.load(f)["pid"] == os.getpid()
    with pytest.raises(errors.WorkdirBusyError):
      workdir_lock.WorkdirLock(str(tmp_path), "another").acquire()
  finally:
    lock.release()
  assert not os.path.exists(lock.path)


def test_the_heartbeat_keeps_a_live_lock_fresh(tmp_path):
  lock = workdir_lock.WorkdirLock(str(tmp_path), "test", stale_after_s=0.4)
  lock.acquire()
  try:
    with open(lock.path) as f:
      first = json.load(f)["heartbeat"]
    time.sleep(0.5)
    with open(lock.path) as f:
      assert json.load(f)["heartbeat"] > first
  finally:
    lock.release()


# --- damaged checkpoints -----------------------------------------------------


def _data_file(step_dir):
  """The largest array-data file of a checkpoint."""
  files = [os.path.join(root, name)
           for root, _, names in os.walk(os.path.join(step_dir, "state"))
           for name in names if os.sep + "d" + os.sep in os.path.join(root,
                                                                      name)]
  return max(files, key=os.path.getsize)


def _truncate(step_dir):
  path = _data_file(step_dir)
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def _overwrite(step_dir):
  path = _data_file(step_dir)
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2 - 2048)
    f.write(np.random.default_rng(0).bytes(4096))


def _flip_bits(step_dir):
  path = _data_file(step_dir)
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 3)
    block = bytearray(f.read(400))
    f.seek(os.path.getsize(path) // 3)
    f.write(bytes(b ^ 0x5A for b in block))


def _delete_data(step_dir):
  os.remove(_data_file(step_dir))


def _delete_metadata(step_dir):
  os.remove(os.path.join(step_dir, "state", "_METADATA"))


def _delete_position(step_dir):
  shutil.rmtree(os.path.join(step_dir, "position"))


DAMAGE = {"truncated data file": (_truncate, "bytes, .* were written"),
          "4 KB overwritten": (_overwrite, "does not match its checksum"),
          "400 bytes corrupted": (_flip_bits, "does not match its checksum"),
          "data file deleted": (_delete_data, "missing state/"),
          "metadata deleted": (_delete_metadata, "missing state/_METADATA"),
          "position item deleted": (_delete_position,
                                    "missing position/")}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_kind_of_damage_is_named_and_set_aside_at_start_up(
    device_reference_run, idx_source, tmp_path, kind):
  """What a restarted run does before training: the damaged newest
  checkpoint is named, moved aside, and the state comes from step 4
  (the resume from there is the test below, bit for bit)."""
  source, _, _ = device_reference_run
  workdir = str(tmp_path / "run")
  shutil.copytree(source, workdir)
  damage, problem = DAMAGE[kind]
  damage(os.path.join(workdir, "checkpoints", "8"))
  run = train.Run(device_smoke_config(idx_source), workdir)
  (record,) = run.damaged
  assert record.step == 8 and re.search(problem, record.problem), record
  assert os.path.isdir(os.path.join(workdir, checkpointing.DAMAGED, "8"))
  assert int(run.state.step) == 4
  assert run.checkpoints.all_steps() == [4]


def test_damaged_latest_checkpoint_is_set_aside_and_the_run_resumes_bitwise(
    device_reference_run, idx_source, tmp_path):
  source, _, run = device_reference_run
  workdir = str(tmp_path / "run")
  shutil.copytree(source, workdir)
  damage, problem = DAMAGE["400 bytes corrupted"]
  damage(os.path.join(workdir, "checkpoints", "8"))
  # Online and final kNN off (settings a resume may change): the state is
  # what must match.
  config = device_smoke_config(idx_source, eval_every=0,
                               **{"knn.enabled": False})
  resumed = train.train_and_evaluate(config, workdir)
  assert resumed["step"] == 8
  (record,) = resumed["damaged_checkpoints"]
  assert record["step"] == 8
  assert re.search(problem, record["problem"]), record
  assert os.path.isdir(os.path.join(workdir, checkpointing.DAMAGED, "8"))
  assert resumed["invocations"][-1]["resumed_from_step"] == 4
  finished = train.Run(config, workdir)
  for got, want in zip(_params(finished.state), _params(run.state)):
    np.testing.assert_array_equal(got, want)


def test_no_intact_checkpoint_is_one_line_listing_what_was_found(
    device_reference_run, idx_source, tmp_path):
  source, _, _ = device_reference_run
  workdir = str(tmp_path / "run")
  shutil.copytree(source, workdir)
  _truncate(os.path.join(workdir, "checkpoints", "8"))
  _delete_metadata(os.path.join(workdir, "checkpoints", "4"))
  with pytest.raises(errors.CheckpointDamagedError,
                     match=r"no intact checkpoint .*step 8: .*bytes.*step 4: "
                     r"missing state/_METADATA"):
    train.train_and_evaluate(device_smoke_config(idx_source), workdir)


def test_tools_name_a_damaged_checkpoint_instead_of_reading_it(
    device_reference_run, tmp_path):
  source, _, _ = device_reference_run
  workdir = str(tmp_path / "run")
  shutil.copytree(source, workdir)
  _flip_bits(os.path.join(workdir, "checkpoints", "8"))
  with pytest.raises(errors.CheckpointDamagedError,
                     match=r"checkpoint step 8 .* is damaged: .*checksum.*"
                     r"--step=4"):
    interop.export(workdir, "safetensors", str(tmp_path / "out.st"))
  assert not os.path.exists(tmp_path / "out.st")
  state, _, _, _ = workdirs.restore(workdir, step=4)
  assert int(state.step) == 4
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "8"))  # readers
  # move nothing


def test_a_checkpoint_with_non_finite_values_is_named(device_reference_run,
                                                      tmp_path, monkeypatch):
  source, _, _ = device_reference_run
  real_restore = checkpointing.Checkpointer.restore

  def poisoned(self, abstract, step=None):
    state, position = real_restore(self, abstract, step)
    return state.replace(queue=state.queue * np.nan), position

  monkeypatch.setattr(checkpointing.Checkpointer, "restore", poisoned)
  with pytest.raises(errors.CheckpointDamagedError,
                     match=r"non-finite values in .*queue"):
    workdirs.restore(source)


# --- honest write errors -----------------------------------------------------


@pytest.mark.parametrize("code, text, advice", [
    (errno.ENOSPC, "No space left on device", "Free space"),
    (errno.EACCES, "Permission denied", "Fix the cause"),
])
def test_a_failed_write_reports_its_real_cause(idx_source, tmp_path,
                                               monkeypatch, code, text,
                                               advice):
  save = checkpointing.ocp.CheckpointManager.save

  def failing_at_8(self, step, *args, **kwargs):
    if step == 8:
      raise OSError(code, text)
    return save(self, step, *args, **kwargs)

  monkeypatch.setattr(checkpointing.ocp.CheckpointManager, "save",
                      failing_at_8)
  with pytest.raises(errors.CheckpointWriteError) as error:
    train.train_and_evaluate(device_smoke_config(idx_source, eval_every=0),
                             str(tmp_path))
  message = str(error.value)
  assert text in message and advice in message
  assert ("Free space" in message) == (code == errno.ENOSPC)


# --- mistakes that end in one line -----------------------------------------


def test_unknown_config_fields_name_the_closest_valid_one():
  problems = cli.unknown_overrides(
      ["--config=configs/fashion_mnist.py", "--config.knn.kk=5",
       "--config.epochs=3", "--config.bach_size", "64"])
  assert problems == [
      "--config.knn.kk: configs/fashion_mnist.py has no field 'knn.kk'; did "
      "you mean 'knn.ks'?",
      "--config.bach_size: configs/fashion_mnist.py has no field "
      "'bach_size'; did you mean 'batch_size'?"]
  assert cli.unknown_overrides(
      ["--config=configs/eval/linear_fashion_mnist.py",
       "--config.protocl=linear"]) == [
           "--config.protocl: configs/eval/linear_fashion_mnist.py has no "
           "field 'protocl'; did you mean 'protocol'?"]
  child = subprocess.run(
      [sys.executable, "-m", "hcsc_jax.main",
       "--config=configs/fashion_mnist.py", "--workdir=/nonexistent",
       "--config.knn.kk=5"], cwd=ROOT, capture_output=True, text=True,
      timeout=300, check=False)
  assert child.returncode == 1
  assert child.stderr.strip().splitlines() == [
      "error: --config.knn.kk: configs/fashion_mnist.py has no field "
      "'knn.kk'; did you mean 'knn.ks'?"]


def test_resuming_with_another_recipe_is_refused_and_bookkeeping_recorded(
    device_reference_run, idx_source, tmp_path):
  source, _, _ = device_reference_run
  workdir = str(tmp_path / "run")
  shutil.copytree(source, workdir)
  shutil.rmtree(os.path.join(workdir, "checkpoints", "8"))  # mid-run
  with pytest.raises(validation.ConfigError,
                     match=r"another recipe.*base_lr: 0.12 -> 0.1; "
                     r"batch_size: 16 -> 32"):
    train.Run(device_smoke_config(idx_source, batch_size=32, base_lr=0.1),
              workdir)
  train.Run(device_smoke_config(idx_source, log_every=3), workdir)
  with open(os.path.join(workdir, workdirs.CONFIG)) as f:
    assert json.load(f)["log_every"] == 3
  with open(os.path.join(workdir, workdirs.CONFIG_HISTORY)) as f:
    (entry,) = [json.loads(line) for line in f]
  assert entry["changes"] == ["log_every: 2 -> 3"]


def test_import_torch_writes_only_into_a_new_or_empty_workdir(
    device_reference_run, tmp_path):
  source, _, _ = device_reference_run
  exported = str(tmp_path / "hcsc.pth.tar")
  interop.export(source, "hcsc", exported)
  config = workdirs.load_config(source)
  with open(os.path.join(source, workdirs.CONFIG)) as f:
    before = f.read()
  with pytest.raises(ValueError, match=r"is not empty .*choose another"):
    interop.import_checkpoint(exported, source, config, 64)
  with open(os.path.join(source, workdirs.CONFIG)) as f:
    assert f.read() == before
  os.makedirs(tmp_path / "empty")
  interop.import_checkpoint(exported, str(tmp_path / "empty"), config, 64)
  assert workdirs.restore(str(tmp_path / "empty"))[0].step == 0


def test_embed_inputs_get_one_clear_line(tmp_path, capsys):
  with pytest.raises(ValueError, match="is a folder"):
    embedding_arrays.load_embed_input(str(tmp_path))
  (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
  with pytest.raises(ValueError, match=r"is not a NumPy \.npy array"):
    embedding_arrays.load_embed_input(str(tmp_path / "photo.jpg"))
  np.save(tmp_path / "bytes.npy", np.zeros((2, 4, 4, 3), np.uint8))
  loaded = embedding_arrays.load_embed_input(str(tmp_path / "bytes.npy"))
  assert loaded.dtype == np.float32
  assert "is uint8" in capsys.readouterr().err
  with pytest.raises(ValueError, match="holds no images"):
    embedding_arrays.embed_images(str(tmp_path),
                                  np.zeros((0, 4, 4, 3), np.float32))
  poisoned = np.zeros((2, 4, 4, 3), np.float32)
  poisoned[1, 2, 3, 0] = np.nan
  with pytest.raises(ValueError, match="1 NaN or infinite"):
    embedding_arrays.embed_images(str(tmp_path), poisoned)


def test_a_config_json_saved_before_later_fields_is_completed(tmp_path):
  """Runs saved before a field existed read back with the value their run
  had, so every module can read its fields directly."""
  config = device_smoke_config(str(tmp_path / "source"))
  saved = json.loads(config.to_json_best_effort())
  for dotted in ("skip_nonfinite_steps", "augment.on_device", "data.threads",
                 "kmeans.backend"):
    *blocks, name = dotted.split(".")
    node = saved
    for block in blocks:
      node = node[block]
    del node[name]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  loaded = workdirs.load_config(str(tmp_path))
  assert loaded.skip_nonfinite_steps is False
  assert loaded.augment.on_device is False
  assert loaded.data.threads == 0
  assert loaded.kmeans.backend == "faiss"
  assert loaded.batch_size == config.batch_size
  assert loaded.data.pipeline == config.data.pipeline  # present: kept
  assert workdirs.complete_saved_config(loaded) == []
