"""Stopping and sharing safely: Ctrl-C at start-up, damaged workdir files
restored or set aside, outputs written atomically with the umask's modes,
lead-only data preparation and a dead peer's one line (the Ctrl-C stages
of a training run are in test_train's crash chain)."""

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from hcsc_jax import errors
from hcsc_jax.studies import runs as study_runs
from hcsc_jax.embedding import arrays as embedding_arrays
from hcsc_jax.interchange import interop
from hcsc_jax.runtime import output_files
from hcsc_jax.runtime import supervisor
from hcsc_jax.training import train
from hcsc_jax.workdir import restore as workdirs
from tests import xla_flags
from tests.trainer_fixtures import device_smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _copy(device_reference_run, tmp_path) -> str:
  source, _, _ = device_reference_run
  workdir = str(tmp_path / "run")
  shutil.copytree(source, workdir)
  return workdir


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_ctrl_c_at_start_up_is_one_line_and_status_130(idx_source, tmp_path):
  child = subprocess.Popen(
      [sys.executable, "-m", "hcsc_jax.main",
       "--config=configs/fashion_mnist.py:smoke",
       "--config.data.pipeline=device",
       f"--config.data.manual_dir={idx_source}",
       f"--workdir={tmp_path / 'w'}"],
      cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(1.0)  # importing JAX and the modules
  child.send_signal(signal.SIGINT)
  _, err = child.communicate(timeout=300)
  assert child.returncode == 130, err[-2000:]
  assert "Traceback" not in err and "KeyboardInterrupt" not in err
  assert err.strip().splitlines()[-1].startswith("interrupted:"), err[-500:]


def test_truncated_config_json_is_restored_from_the_checkpoint(
    device_reference_run, idx_source, tmp_path, caplog):
  workdir = _copy(device_reference_run, tmp_path)
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    original = json.load(f)
  with open(path, "r+") as f:
    f.truncate(40)
  caplog.set_level(logging.WARNING)
  config = workdirs.load_config(workdir)
  assert config.to_dict()["width"] == original["width"]
  assert "restored it from checkpoint step 8" in caplog.text
  with open(path) as f:
    assert json.load(f) == original
  with open(path + ".damaged") as f:
    assert len(f.read()) == 40
  # run_info.json lost: restore() writes it back from the same manifest.
  os.remove(os.path.join(workdir, "run_info.json"))
  state, _, _, _ = workdirs.restore(workdir)
  assert int(state.step) == 8
  assert os.path.exists(os.path.join(workdir, "run_info.json"))
  # And the trainer resumes through a damaged config.json.
  with open(path, "w") as f:
    f.write("{")
  summary = train.train_and_evaluate(
      device_smoke_config(idx_source, **{"knn.enabled": False},
                          eval_every=0), workdir)
  assert summary["step"] == 8 and summary["finished"]


def test_config_json_without_a_carried_copy_is_one_line(tmp_path):
  workdir = tmp_path / "w"
  (workdir / "checkpoints").mkdir(parents=True)
  (workdir / "config.json").write_text('{"arch": ')
  with pytest.raises(errors.WorkdirError,
                     match=r"config.json is damaged \(not valid JSON.*no "
                     r"intact checkpoint .* carries a copy"):
    workdirs.load_config(str(workdir))


def test_damaged_summary_is_set_aside_and_rebuilt(device_reference_run,
                                                  idx_source, tmp_path,
                                                  caplog):
  workdir = _copy(device_reference_run, tmp_path)
  summary_path = os.path.join(workdir, "summary.json")
  with open(summary_path, "w") as f:
    f.write('{"epochs": 2, "invoc')
  caplog.set_level(logging.WARNING)
  summary = train.train_and_evaluate(
      device_smoke_config(idx_source, **{"knn.enabled": False},
                          eval_every=0), workdir)
  assert summary["finished"] and len(summary["invocations"]) == 1
  assert "is not valid JSON" in caplog.text
  assert os.path.exists(summary_path + ".damaged")
  with open(summary_path) as f:
    assert json.load(f)["step"] == 8


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_export_creates_folders_and_follows_the_umask(device_reference_run,
                                                      tmp_path, umask, mode):
  workdir, _, _ = device_reference_run
  output = tmp_path / "shared" / "team" / "weights.safetensors"
  features = tmp_path / "new" / "feats"
  previous = os.umask(umask)
  try:
    interop.export(workdir, "safetensors", str(output))
    written = embedding_arrays.save_features(np.zeros((2, 3), np.float32),
                                             str(features))
  finally:
    os.umask(previous)
  assert os.stat(output).st_mode & 0o777 == mode
  assert written == str(features) + ".npy"
  assert os.stat(written).st_mode & 0o777 == mode
  assert not [n for n in os.listdir(output.parent) if "partial" in n]


def test_unwritable_output_is_one_line(device_reference_run, tmp_path):
  workdir, _, _ = device_reference_run
  blocker = tmp_path / "a_file"
  blocker.write_text("x")
  with pytest.raises(errors.OutputError, match=r"--output=.*a_file/w.pt: "
                     r"cannot create .*a_file"):
    interop.export(workdir, "torchvision", str(blocker / "w.pt"))
  with pytest.raises(errors.OutputError, match="is a folder"):
    interop.export(workdir, "torchvision", str(tmp_path))


def test_an_interrupted_write_leaves_no_file(tmp_path):
  target = tmp_path / "out.bin"
  with pytest.raises(KeyboardInterrupt):
    with output_files.atomic_path(str(target)) as tmp:
      with open(tmp, "wb") as f:
        f.write(b"half")
      raise KeyboardInterrupt
  assert os.listdir(tmp_path) == []


def test_a_stopped_study_run_stops_the_study_with_its_status(tmp_path,
                                                             monkeypatch):
  monkeypatch.setattr(train, "train_and_evaluate", lambda config, d: {
      "preempted": True, "step": 3, "exit_status": 130})
  with pytest.raises(study_runs.Stopped) as stopped:
    study_runs.run_study(device_smoke_config("/nonexistent"), str(tmp_path),
                         ["hcsc"], [0], ["knn"], None, None)
  assert stopped.value.exit_status == 130


def test_only_the_lead_process_prepares_the_data_set(idx_source, tmp_path):
  data_dir, markers = tmp_path / "tfds", tmp_path / "markers"
  markers.mkdir()
  port = _free_port()
  children = [subprocess.Popen(
      [sys.executable, "-m", "tests.lead_prepare_runner", str(data_dir),
       idx_source, str(markers)], cwd=ROOT,
      env=dict(os.environ, PYTHONPATH=ROOT,
               HCSC_COORDINATOR=f"localhost:{port}", HCSC_NUM_PROCESSES="2",
               HCSC_PROCESS_ID=str(index)),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for index in range(2)]
  outputs = [child.communicate(timeout=600) for child in children]
  for child, (out, err) in zip(children, outputs):
    assert child.returncode == 0, err[-3000:]
    assert "train examples: 64" in out
  assert sorted(os.listdir(markers)) == ["prepared_by_0"]


JAX_PEER_MESSAGE = """\
E1130 coordination_service.cc:1549] Use error polling to propagate the \
following error to all tasks: UNAVAILABLE: The following tasks are \
unhealthy (stopped sending heartbeats):
1
F1130 client.h:80] Terminating process because the JAX distributed service \
detected fatal errors. Barrier result: 'INTERNAL: Barrier failed because: \
task is set to ERROR: UNAVAILABLE: Task 1 heartbeat timeout.'
Fatal Python error: Aborted
"""


def test_the_peer_message_names_the_process_and_the_checkpoint(tmp_path):
  (tmp_path / "checkpoints" / "12").mkdir(parents=True)
  (tmp_path / "checkpoints" / "8").mkdir()
  env = {"HCSC_PROCESS_ID": "0", "HCSC_NUM_PROCESSES": "2"}
  line = supervisor.explanation(-6, JAX_PEER_MESSAGE,
                                [f"--workdir={tmp_path}"], env)
  assert line == (
      "error: process 0 of 2 stopped: process 1 stopped sending heartbeats "
      "(see JAX's message above). Last checkpoint: step 12 in "
      f"{tmp_path}/checkpoints. Rerun the same command on all 2 processes "
      "to resume.")
  assert supervisor.explanation(0, "", [], env) is None
  assert supervisor.explanation(130, "", [], env) is None


def test_a_dead_peer_ends_the_other_process_with_one_line(idx_source,
                                                          tmp_path):
  """The real CLI on 2 localhost processes; process 1 is SIGKILLed once a
  checkpoint exists. Process 0 must end by itself (the heartbeat timeout
  is 5 s here; the bound below only guards against a hang)."""
  workdir = tmp_path / "w"
  port = _free_port()
  children = []
  for index in range(2):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
               XLA_FLAGS=xla_flags.flags(2),
               HCSC_COORDINATOR=f"localhost:{port}", HCSC_NUM_PROCESSES="2",
               HCSC_PROCESS_ID=str(index), HCSC_HEARTBEAT_TIMEOUT_S="5")
    children.append(subprocess.Popen(
        [sys.executable, "-m", "hcsc_jax.main",
         "--config=configs/fashion_mnist.py:smoke",
         "--config.data.pipeline=device",
         f"--config.data.manual_dir={idx_source}", "--config.epochs=200",
         "--config.knn.enabled=False", f"--workdir={workdir}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True))
  checkpoints = workdir / "checkpoints"
  deadline = time.time() + 600
  while not (checkpoints.is_dir() and
             any(n.isdigit() for n in os.listdir(checkpoints))):
    if time.time() > deadline or children[0].poll() is not None:
      pytest.fail("process 0 ended or wrote no checkpoint within 10 "
                  "minutes (a hang guard, not a speed check)")
    time.sleep(0.5)
  children[1].kill()
  children[1].wait()
  _, err = children[0].communicate(timeout=600)
  assert children[0].returncode == supervisor.EXIT_PEER_LOST, err[-3000:]
  last = err.strip().splitlines()[-1]
  assert re.fullmatch(
      r"error: process 0 of 2 stopped: process 1 stopped sending heartbeats "
      r"\(see JAX's message above\)\. Last checkpoint: step \d+ in "
      rf"{re.escape(str(checkpoints))}\. Rerun the same command on all 2 "
      r"processes to resume\.", last), last
  assert "heartbeat" in err[:-len(last)]  # JAX's own message is kept
