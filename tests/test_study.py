"""The seeds study: statistics, and the runs and table of the GPU
launcher's dry run on the smoke config (device path), read back here."""

import json
import os
import shutil

import numpy as np
import pytest

from hcsc_jax.configs import fashion_mnist_long
from hcsc_jax.errors import ConfigError
from hcsc_jax.studies import statistics as seed_statistics
from hcsc_jax.studies import runs as study_runs
from hcsc_jax.workdir import layout as workdir_layout


def test_paired_difference_interval_is_students_t():
  a = [0.80, 0.82, 0.81]
  b = [0.78, 0.79, 0.80]
  d = seed_statistics.paired_difference(a, b)
  diffs = np.subtract(a, b)
  half = 4.302652729911275 * diffs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
  assert d["mean"] == pytest.approx(diffs.mean())
  assert d["low"] == pytest.approx(diffs.mean() - half)
  assert d["high"] == pytest.approx(diffs.mean() + half)
  assert d["separated"] == (d["low"] > 0)
  noisy = seed_statistics.paired_difference([0.80, 0.70, 0.90],
                                            [0.79, 0.75, 0.80])
  assert not noisy["separated"]
  one = seed_statistics.paired_difference([0.8], [0.7])
  assert np.isnan(one["low"]) and not one["separated"]
  s = seed_statistics.summary([1.0, 2.0, 4.0])
  assert s["mean"] == pytest.approx(7 / 3)
  assert s["std"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))


# launch/gpu_study.sh's protocols; its --dry_run is the study checked here.
PROTOCOLS = ["knn", "knn@1%", "knn@10%", "linear@1%", "linear@10%", "linear"]


def _dry_run_config(idx_source, **fields):
  """The config `launch/gpu_study.sh --dry_run` gives its study processes
  (configs/fashion_mnist_long.py:smoke and the script's overrides)."""
  c = fashion_mnist_long.get_config("smoke")
  c.epochs = 2
  c.eval_every = 0
  c.visualize_every = 0
  c.data.manual_dir = idx_source
  for name, value in fields.items():
    c[name] = value
  return c


def test_study_runs_every_variant_and_seed_and_tabulates(gpu_study_dry_run,
                                                         idx_source,
                                                         tmp_path):
  """The study the GPU launcher's dry run made (conftest: 2 seeds x hcsc,
  mocov2 in 2 concurrent processes, then the table without baselines), and
  the same study run again in this process with baselines: it reads every
  result back and evaluates the baselines once, in the first run."""
  workdir, finished = gpu_study_dry_run
  assert finished.returncode == 0, finished.stderr[-2000:]
  workdir = str(workdir)
  for variant in ("hcsc", "mocov2"):
    for seed in (0, 1):
      directory = workdir_layout.study_run(workdir, variant, seed)
      with open(os.path.join(directory, "config.json")) as f:
        saved = json.load(f)
      assert saved["seed"] == seed
      assert saved["use_hierarchy"] == (variant == "hcsc")
      assert os.path.exists(os.path.join(directory, "eval",
                                         "linear_fashion_mnist.json"))
  with open(os.path.join(workdir, "study.json")) as f:
    record = json.load(f)
  assert record["baseline"] == "mocov2"
  knn = record["values"]["hcsc"]["knn"]
  assert len(knn) == 2 and all(0.0 <= v <= 1.0 for v in knn)
  difference = record["differences"]["hcsc"]["linear"]
  assert difference["mean"] == pytest.approx(
      np.mean(record["values"]["hcsc"]["linear"])
      - np.mean(record["values"]["mocov2"]["linear"]))
  with open(os.path.join(workdir, "study.md")) as f:
    table = f.read().strip()
  assert "| hcsc − mocov2 | kNN top-1 |" in table
  assert "| hcsc − mocov2 | linear top-1 @10% |" in table
  assert "| mocov2 | MoCo v2" in table
  second = workdir_layout.study_run(workdir, "mocov2", 1)
  assert not [n for n in os.listdir(os.path.join(second, "eval"))
              if n.endswith(("_random.json", "_pixels.json"))]
  with pytest.raises(ConfigError, match="percentage"):
    study_runs.parse_protocol("knn@0%")
  with pytest.raises(ConfigError, match="unknown"):
    study_runs.parse_protocol("knm")
  # A rerun (on a copy: the study is shared) reads every result back
  # (nothing retrains: no new checkpoints) and, with baselines (the
  # launcher ran --nobaselines), adds their rows.
  workdir = str(shutil.copytree(workdir, tmp_path / "study"))
  first = workdir_layout.study_run(workdir, "hcsc", 0)
  before = sorted(os.listdir(os.path.join(first, "checkpoints")))
  table = study_runs.run_study(
      _dry_run_config(idx_source), workdir, ["hcsc", "mocov2"], [0, 1],
      PROTOCOLS, None, study_runs.eval_config)
  assert sorted(os.listdir(os.path.join(first, "checkpoints"))) == before
  assert "| hcsc − mocov2 | linear top-1 @10% |" in table
  with open(os.path.join(workdir, "study.json")) as f:
    record = json.load(f)
  # Baselines: once per study, in the first run, every protocol.
  for kind, label in (("random", "random init"), ("pixels", "raw pixels")):
    row = next(line for line in table.splitlines()
               if line.startswith(f"| {label} |"))
    assert row.count("|") == len(PROTOCOLS) + 3
    for name in ("knn_fashion_mnist", "knn_fashion_mnist_10pct",
                 "linear_fashion_mnist_10pct"):
      with open(os.path.join(first, "eval", f"{name}_{kind}.json")) as f:
        result = json.load(f)
      if "10pct" in name:
        assert 10 <= result["train_examples"] < 64  # each class, 10%
        assert len(result[("knn_top1" if "knn" in name else "top1")
                          + "_draws"]) == 5
    assert set(record["baselines"][kind]) == set(PROTOCOLS)
  with pytest.raises(ConfigError, match=r"base_lr: 0.06 -> 0.5"):
    study_runs.run_study(_dry_run_config(idx_source, base_lr=0.5), workdir,
                         ["hcsc"], [0], ["knn"], "hcsc",
                         study_runs.eval_config)
  with pytest.raises(ConfigError, match="'nope' is unknown"):
    study_runs.run_study(_dry_run_config(idx_source), workdir, ["nope"], [0],
                         ["knn"], None, study_runs.eval_config)
