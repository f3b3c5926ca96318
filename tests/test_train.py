"""End-to-end pre-training on mock Fashion-MNIST: runs, compiles once, resumes
exactly, and handles preemption."""

import json
import os
import re

import jax
import numpy as np
import pytest

from hcsc_jax import train
from hcsc_jax.preemption import PreemptionWatcher
from tests.trainer_fixtures import mock_fashion_mnist, smoke_config


def _params(state):
  return jax.tree.leaves(jax.device_get((state.params, state.key_params,
                                         state.queue, state.batch_stats)))


@pytest.fixture(scope="module", name="reference_run")
def _reference_run(tmp_path_factory):
  """2 epochs, clustering from epoch 1, uninterrupted."""
  workdir = str(tmp_path_factory.mktemp("uninterrupted"))
  with mock_fashion_mnist():
    config = smoke_config()
    summary = train.train_and_evaluate(config, workdir)
    run = train.Run(config, workdir)  # restores the final checkpoint
  return workdir, summary, run


def test_smoke_run_trains_clusters_and_reports(reference_run):
  workdir, summary, run = reference_run
  assert summary["epochs"] == 2 and summary["step"] == 8
  assert 0.0 <= summary["knn_top1"] <= 1.0
  assert "cluster_s" in summary["epoch_times"][1]
  assert "cluster_s" not in summary["epoch_times"][0]
  with open(os.path.join(workdir, "summary.json")) as f:
    assert json.load(f)["step"] == 8
  assert os.path.exists(os.path.join(workdir, "config.json"))
  state = run.state
  assert bool(state.hierarchy_active)
  assert state.hierarchy.num_clusters == (8, 4, 2)
  assert int(state.queue_ptr) == (8 * 16) % 32
  assert any(name.startswith("events.out.tfevents")
             for name in os.listdir(workdir))
  line = train.final_line(summary)
  assert re.fullmatch(r"final: epochs=2 knn_top1=[01]\.\d{4} wall_s=\d+", line)


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


@pytest.mark.parametrize("poll, step", [
    (7, 6),  # mid-epoch 1, after its clustering
    (5, 4),  # the check at the end of epoch 0
])
def test_resume_after_preemption_matches_uninterrupted(reference_run,
                                                       tmp_path, monkeypatch,
                                                       poll, step):
  """The watcher is polled after every step and once more at each epoch's
  end (4 steps per epoch here)."""
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
    assert first == {"preempted": True, "step": step}
    monkeypatch.undo()
    resumed = train.train_and_evaluate(smoke_config(), workdir)
    finished = train.Run(smoke_config(), workdir)
  assert resumed["step"] == 8
  # Mid-epoch the hierarchy comes back with the state; at a boundary the
  # restarted epoch clusters as usual.
  assert ("cluster_s" in resumed["epoch_times"][0]) == (step == 4)
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


def test_non_finite_loss_stops_and_names_step(tmp_path):
  with mock_fashion_mnist():
    config = smoke_config(base_lr=1e38, **{"knn.enabled": False})
    with pytest.raises(train.NonFiniteLossError,
                       match=r"non-finite loss or gradient at step \d+"):
      train.train_and_evaluate(config, str(tmp_path))
  checkpoints = tmp_path / "checkpoints"
  assert not checkpoints.exists() or not [
      p for p in checkpoints.iterdir() if p.name.isdigit()]
