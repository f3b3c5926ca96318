"""The seeds study: statistics, and the command's runs and table on the
smoke config (device path)."""

import json
import os

import numpy as np
import pytest

from configs.eval import knn_fashion_mnist
from configs.eval import linear_fashion_mnist
from hcsc_jax.errors import ConfigError
from hcsc_jax.studies import statistics as seed_statistics
from hcsc_jax.studies import runs as study_runs
from hcsc_jax.workdir import layout as workdir_layout
from tests.trainer_fixtures import device_smoke_config, write_fashion_mnist


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


def _eval_config(protocol, run_config, seed):
  c = {"linear": linear_fashion_mnist,
       "knn": knn_fashion_mnist}[protocol].get_config()
  c.knn.ks = (1, 3)
  c.data = run_config.data
  c.seed = seed
  c.batch_size = 32
  c.classifier.batch_size = 16
  c.classifier.epochs = 1
  c.classifier.milestones = ()
  c.bn_group_size = 4
  c.log_every = 2
  return c


def test_study_runs_every_variant_and_seed_and_tabulates(tmp_path):
  source = write_fashion_mnist(str(tmp_path / "idx"))
  config = device_smoke_config(source, epochs=2, eval_every=0,
                               **{"knn.ks": (1, 3)})
  workdir = str(tmp_path / "study")
  protocols = ["knn", "knn@50%", "linear@50%", "linear"]
  table = study_runs.run_study(config, workdir, ["hcsc", "mocov2"], [0, 1],
                               protocols, None, _eval_config)
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
  assert "| hcsc − mocov2 | kNN top-1 |" in table
  assert "| hcsc − mocov2 | linear top-1 @50% |" in table
  assert "| mocov2 | MoCo v2" in table
  # Baselines: once per study, in the first run, every protocol.
  first = workdir_layout.study_run(workdir, "hcsc", 0)
  for kind, label in (("random", "random init"), ("pixels", "raw pixels")):
    row = next(line for line in table.splitlines()
               if line.startswith(f"| {label} |"))
    assert row.count("|") == len(protocols) + 3
    for name in ("knn_fashion_mnist", "knn_fashion_mnist_50pct",
                 "linear_fashion_mnist_50pct"):
      with open(os.path.join(first, "eval", f"{name}_{kind}.json")) as f:
        result = json.load(f)
      if "50pct" in name:
        assert result["train_examples"] == 30  # 3 per class of 64
        assert len(result[("knn_top1" if "knn" in name else "top1")
                          + "_draws"]) == 5
    assert set(record["baselines"][kind]) == set(protocols)
  second = workdir_layout.study_run(workdir, "mocov2", 1)
  assert not [n for n in os.listdir(os.path.join(second, "eval"))
              if n.endswith(("_random.json", "_pixels.json"))]
  with pytest.raises(ConfigError, match="percentage"):
    study_runs.parse_protocol("knn@0%")
  with pytest.raises(ConfigError, match="unknown"):
    study_runs.parse_protocol("knm")
  with open(os.path.join(workdir, "study.md")) as f:
    assert f.read().strip() == table
  # A rerun reads every result back (nothing retrains: no new checkpoints).
  before = sorted(os.listdir(os.path.join(
      workdir_layout.study_run(workdir, "hcsc", 0), "checkpoints")))
  assert study_runs.run_study(config, workdir, ["hcsc", "mocov2"], [0, 1],
                              protocols, None, _eval_config) == table
  assert sorted(os.listdir(os.path.join(
      workdir_layout.study_run(workdir, "hcsc", 0), "checkpoints"))) == before
  changed = device_smoke_config(source, epochs=2, base_lr=0.5, eval_every=0,
                                **{"knn.ks": (1, 3)})
  with pytest.raises(ConfigError, match=r"base_lr: 0.12 -> 0.5"):
    study_runs.run_study(changed, workdir, ["hcsc"], [0], ["knn"], "hcsc",
                         _eval_config)
  with pytest.raises(ConfigError, match="'nope' is unknown"):
    study_runs.run_study(config, workdir, ["nope"], [0], ["knn"], None,
                         _eval_config)
