"""End-to-end pre-training on mock Fashion-MNIST: runs, compiles once, resumes
exactly, and handles preemption."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from hcsc_jax import errors
from hcsc_jax.runtime.preemption import PreemptionWatcher
from hcsc_jax.training import train
from hcsc_jax.training import validation
from hcsc_jax.workdir import layout as workdir_layout
from tests.trainer_fixtures import (device_smoke_config, mock_fashion_mnist,
                                   smoke_config)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _params(state):
  return jax.tree.leaves(jax.device_get((state.params, state.key_params,
                                         state.queue, state.batch_stats)))


@pytest.fixture(name="reference_run")
def _reference_run(tfdata_reference_run):
  """2 epochs, clustering from epoch 1, uninterrupted (shared, conftest)."""
  return tfdata_reference_run


def test_smoke_run_trains_clusters_and_reports(reference_run):
  workdir, summary, run = reference_run
  assert summary["epochs"] == 2 and summary["step"] == 8
  assert 0.0 <= summary["knn_top1"] <= 1.0
  assert "cluster_s" in summary["epoch_times"][1]
  assert "cluster_s" not in summary["epoch_times"][0]
  # Online kNN after each epoch (eval_every=1); the last one is the final.
  assert [r["epoch"] for r in summary["online_knn"]] == [0, 1]
  assert summary["online_knn"][-1]["knn_top1"] == summary["knn_top1"]
  with open(os.path.join(workdir, "summary.json")) as f:
    assert json.load(f)["step"] == 8
  assert os.path.exists(os.path.join(workdir, "config.json"))
  state = run.state
  assert bool(state.hierarchy_active)
  assert state.hierarchy.num_clusters == (8, 4, 2)
  assert int(state.queue_ptr) == (8 * 16) % 32
  assert any(name.startswith("events.out.tfevents")
             for name in os.listdir(workdir))
  # The smoke config's label fraction is 25% (64 images), with raw pixels.
  for key in ("knn_top1@25%", "knn_top1@25%_std", "knn_pixels_top1",
              "knn_pixels_top1@25%"):
    assert 0.0 <= summary[key] <= 1.0, key
  # Per-draw values, and encoder - pixels paired over the same draws.
  ours, theirs = (summary[k] for k in ("knn_top1@25%_draws",
                                       "knn_pixels_top1@25%_draws"))
  assert len(ours) == len(theirs) == 5
  np.testing.assert_allclose(summary["knn_top1@25%_minus_pixels"],
                             np.mean(np.subtract(ours, theirs)), atol=1e-12)
  np.testing.assert_allclose(summary["knn_top1@25%"], np.mean(ours),
                             atol=1e-12)
  # The same fraction labelled where the prototypes point: one subset
  # (the rule is deterministic), for the pixels from their own k-means.
  for key in ("knn_top1@25%:prototypes", "knn_pixels_top1@25%:prototypes"):
    assert 0.0 <= summary[key] <= 1.0, key
    assert len(summary[key + "_draws"]) == 1
    assert 1 <= summary[key + "_classes_covered"][0] <= 10
  line = train.final_line(summary)
  assert re.fullmatch(r"final: epochs=2 knn_top1=[01]\.\d{4} "
                      r"knn_top1@25%=[01]\.\d{4} \(raw pixels [01]\.\d{4}\) "
                      r"knn_top1@25%:prototypes=[01]\.\d{4} "
                      r"\(raw pixels [01]\.\d{4}\) "
                      r"wall_s=\d+", line), line


def test_workdir_holds_only_the_names_its_layout_declares(reference_run):
  workdir, _, _ = reference_run
  declared = {value for name, value in vars(workdir_layout).items()
              if name.isupper() and isinstance(value, str)}
  found = {name for name in os.listdir(workdir)
           if not name.startswith("events.out.tfevents")}
  assert found <= declared, found - declared
  assert {workdir_layout.CONFIG, workdir_layout.SUMMARY,
          workdir_layout.METRICS, workdir_layout.HIERARCHY_STATS,
          workdir_layout.CHECKPOINTS, workdir_layout.RUN_INFO} <= found
  for step in os.listdir(os.path.join(workdir, workdir_layout.CHECKPOINTS)):
    assert os.path.exists(os.path.join(
        workdir, workdir_layout.CHECKPOINTS, step,
        workdir_layout.CHECKPOINT_MANIFEST))


def test_train_step_compiles_once_across_epochs(tmp_path):
  with mock_fashion_mnist():
    config = smoke_config(epochs=3, warmup_epochs=1, **{"knn.enabled": False})
    traced = []
    original = train.step_lib.make_train_step

    def counting(*args, **kwargs):
      jitted = original(*args, **kwargs)
      traced.append(jitted)
      return jitted

    train.step_lib.make_train_step = counting
    try:
      train.train_and_evaluate(config, str(tmp_path))
    finally:
      train.step_lib.make_train_step = original
  assert len(traced) == 1
  assert traced[0]._cache_size() == 1  # pylint: disable=protected-access


def test_resume_after_preemption_matches_uninterrupted(reference_run,
                                                       tmp_path, monkeypatch):
  """The watcher is polled after every step and once more at each epoch's
  end (4 steps per epoch here); poll 7 stops mid-epoch 1, after its
  clustering, so the tf.data input resumes mid-epoch. (A stop at an
  epoch's end, whose restarted epoch clusters as usual, is the SIGINT
  during embedding in the crash chain below and, on this path,
  test_resume_from_epoch_checkpoint_matches.)"""
  poll, step = 7, 6
  _, summary, run = reference_run
  workdir = str(tmp_path)
  polls = {"count": 0}

  def preempt_once(self):  # pylint: disable=unused-argument
    polls["count"] += 1
    return polls["count"] == poll

  with mock_fashion_mnist():
    monkeypatch.setattr(PreemptionWatcher, "requested",
                        property(preempt_once))
    first = train.train_and_evaluate(smoke_config(), workdir)
    assert first == {"preempted": True, "step": step, "exit_status": 0}
    monkeypatch.undo()
    resumed = train.train_and_evaluate(smoke_config(), workdir)
    finished = train.Run(smoke_config(), workdir)
  assert resumed["step"] == 8
  # Mid-epoch the hierarchy comes back with the state; at a boundary the
  # restarted epoch clusters as usual.
  # summary.json holds both invocations' epochs; the resumed one's is last.
  assert resumed["epoch_times"][-1]["epoch"] == 1
  assert ("cluster_s" in resumed["epoch_times"][-1]) == (step == 4)
  for got, want in zip(_params(finished.state), _params(run.state)):
    np.testing.assert_array_equal(got, want)
  assert resumed["knn_top1"] == summary["knn_top1"]


def test_resume_from_epoch_checkpoint_matches(reference_run, tmp_path):
  """Stop after epoch 0 (as a crash would), restart with the same command."""
  _, _, run = reference_run
  workdir = str(tmp_path)
  with mock_fashion_mnist():
    partial = train.Run(smoke_config(), workdir)
    # Train epoch 0 exactly as train_and_evaluate would, then save.
    watcher = PreemptionWatcher()
    partial.train_epoch(0, 0, watcher, lambda step: None)
    watcher.restore()
    partial.save(train.Position(1, 0, False))
    partial.checkpoints.close()
    train.train_and_evaluate(smoke_config(), workdir)
    finished = train.Run(smoke_config(), workdir)
  for got, want in zip(_params(finished.state), _params(run.state)):
    np.testing.assert_array_equal(got, want)


def _child(workdir: str, event: str, n: int,
           source: str | None = None) -> subprocess.CompletedProcess:
  """The smoke run in a fresh process (tests/crash_runner.py); on the
  device path when `source` (idx files) is given."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run(
      [sys.executable, "-m", "tests.crash_runner", workdir, event, str(n)]
      + ([source] if source else []),
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
      check=False)


def _finished_steps(workdir: str) -> list[int]:
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(p) for p in os.listdir(directory) if p.isdigit())


def test_sigkill_anywhere_then_rerun_ends_bitwise_equal(device_reference_run,
                                                        idx_source, tmp_path):
  """One workdir, killed in turn during a train step, a checkpoint write,
  embedding and clustering, sent SIGTERM while the step compiles and during
  a step, Ctrl-C (SIGINT) during embedding, k-means and a step, and Ctrl-C
  twice; each restart is the same command. Smoke run on the device path
  (the Fashion-MNIST default): 4 steps per epoch, clustering from epoch 1,
  checkpoints at the epoch ends (steps 4 and 8) and wherever a SIGTERM or
  Ctrl-C stops the run; 3 are kept."""
  _, summary, run = device_reference_run
  workdir = str(tmp_path)
  killed = -signal.SIGKILL
  ctrl_c = 130
  stages = [
      ("sigterm_compile", 1, 0, [0]),     # checkpoint of the initial state
      ("step", 2, killed, [0]),
      ("checkpoint", 1, killed, [0]),     # step 4's write never completes
      ("sigint_embed", 1, ctrl_c, [0, 4]),  # epoch 1's embedding abandoned
      ("cluster", 1, killed, [0, 4]),     # after k-means level 0
      ("sigint_cluster", 1, ctrl_c, [0, 4]),  # k-means abandoned mid-way
      ("sigint_twice", 2, ctrl_c, [0, 4]),    # stops at once, nothing saved
      ("sigint", 2, ctrl_c, [0, 4, 6]),   # finishes step 6, saves, exits 130
      ("sigterm", 1, 0, [4, 6, 7]),       # finishes step 7, saves, exits 0
      ("none", 0, 0, [6, 7, 8]),
  ]
  for event, n, code, steps in stages:
    child = _child(workdir, event, n, idx_source)
    assert child.returncode == code, (event, child.stderr[-3000:])
    assert _finished_steps(workdir) == steps, event
    assert "Traceback" not in child.stderr, (event, child.stderr[-3000:])
    if event == "sigint_twice":
      assert re.search(r"second Ctrl-C: stopped at once; the \d+ train "
                       r"step\(s\) since checkpoint step 4 are lost",
                       child.stderr), child.stderr[-2000:]
    elif code in (0, ctrl_c) and event != "none":
      word = "preempted" if code == 0 else "interrupted"
      assert f"{word}: checkpoint at step {steps[-1]}" in child.stdout, (
          event, child.stdout[-2000:])
  assert re.search(r"final: epochs=2 knn_top1=[01]\.\d{4}", child.stdout)
  finished = train.Run(device_smoke_config(idx_source), workdir)
  for got, want in zip(_params(finished.state), _params(run.state)):
    np.testing.assert_array_equal(got, want)
  with open(os.path.join(workdir, "summary.json")) as f:
    resumed = json.load(f)
  assert resumed["knn_top1"] == summary["knn_top1"]
  assert len(resumed["invocations"]) >= 4  # every finished invocation
  assert resumed["wall_s"] == pytest.approx(
      sum(i["wall_s"] for i in resumed["invocations"]))


HOST_VIEWS = {"augment.on_device": False}


def _poison_second_batch(monkeypatch):
  """NaN pixels in the query view of the second train batch (float views:
  run with augment.on_device=False, `HOST_VIEWS`)."""
  put_batch = train.sharding.put_batch
  calls = {"count": 0}

  def poisoned(batch, mesh):
    if "query" in batch:
      calls["count"] += 1
      if calls["count"] == 2:
        batch = dict(batch, query=np.full_like(batch["query"], np.nan))
    return put_batch(batch, mesh)
  monkeypatch.setattr(train.sharding, "put_batch", poisoned)


def test_injected_nan_stops_the_run_naming_step_and_checkpoint(tmp_path,
                                                               monkeypatch):
  _poison_second_batch(monkeypatch)
  with mock_fashion_mnist(), pytest.raises(errors.NonFiniteLossError) as error:
    train.train_and_evaluate(smoke_config(**HOST_VIEWS,
                                          **{"knn.enabled": False}),
                             str(tmp_path))
  message = str(error.value)
  assert "non-finite loss or gradient at step 1" in message
  assert "'loss'" in message and "'icsc'" in message
  assert "last good checkpoint: step None" in message
  assert not _finished_steps(str(tmp_path))


def test_injected_nan_is_skipped_when_allowed(tmp_path, monkeypatch):
  _poison_second_batch(monkeypatch)
  with mock_fashion_mnist():
    summary = train.train_and_evaluate(
        smoke_config(skip_nonfinite_steps=True, **{"knn.enabled": False},
                     eval_every=0, **HOST_VIEWS), str(tmp_path))
    finished = train.Run(smoke_config(**HOST_VIEWS), str(tmp_path))
  assert summary["skipped_steps"] == 1 and summary["step"] == 8
  for leaf in _params(finished.state):
    assert np.all(np.isfinite(leaf))


def test_input_that_ends_early_is_an_error_not_a_preemption(tmp_path,
                                                            monkeypatch):
  """Undecodable images are dropped by tf.data; an epoch left with fewer
  full batches than steps stops the run with one line, never as if it had
  been preempted (which would end it quietly with exit code 0)."""
  prefetch = train.sharding.prefetch_to_device

  def one_batch_short(batches, mesh, depth=2):
    return prefetch(list(batches)[:-1], mesh, depth)
  monkeypatch.setattr(train.sharding, "prefetch_to_device", one_batch_short)
  with mock_fashion_mnist(), pytest.raises(train.InputExhaustedError,
                                           match="ended after step 3 of 4"):
    train.train_and_evaluate(smoke_config(**{"knn.enabled": False}),
                             str(tmp_path))


def test_unwritable_workdir_fails_before_any_work(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a folder")
  with pytest.raises(errors.WorkdirError, match="is not writable"):
    train.Run(smoke_config(), str(blocker / "run"))


def test_shape_changes_are_refused_unless_reset_from(reference_run, tmp_path):
  source, _, run = reference_run
  workdir = str(tmp_path / "copy")
  shutil.copytree(source, workdir)
  with mock_fashion_mnist():
    with pytest.raises(validation.ConfigError,
                       match=r"queue_size: 32 -> 64; num_clusters: \[8, 4, 2\]"
                       r" -> \[6, 3\]"):
      train.Run(smoke_config(queue_size=64, num_clusters=(6, 3)), workdir)
    reset = train.Run(smoke_config(queue_size=64, num_clusters=(6, 3),
                                   reset_from=workdir), workdir)
    assert int(reset.state.step) == 0 and reset.state.queue.shape == (64, 16)
    for got, want in zip(jax.tree.leaves(jax.device_get(reset.state.params)),
                         jax.tree.leaves(jax.device_get(run.state.params))):
      np.testing.assert_array_equal(got, want)
    aside = os.path.join(workdir, "before_reset_8")
    assert _finished_steps(aside) == [4, 8]
    with pytest.raises(validation.ConfigError, match="does not fit the new "
                       "architecture"):
      train.Run(smoke_config(arch="resnet34", reset_from=aside),
                str(tmp_path / "other"))
