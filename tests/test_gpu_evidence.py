"""launch/gpu_evidence.sh before it meets a GPU: its --dry_run on the CPU,
with TensorFlow, TFDS and faiss hidden as on the GPU host, runs every part
at tiny sizes through the same code and packs the same files; the table is
made here from the packed records alone; a deadline that leaves no time
still packs; the bundle's size is checked."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

from hcsc_jax.benchmark import evidence
from tests import launcher_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(name="dry_run")
def _dry_run(gpu_evidence_dry_run):
  """(out folder, finished process) of the whole evidence script, tiny
  (conftest: the session's one dry run)."""
  out, _, done = gpu_evidence_dry_run
  return out, done


def test_the_dry_run_measures_trains_evaluates_and_packs(dry_run):
  out, done = dry_run
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  assert sorted(os.listdir(out)) == ["evidence.json", "evidence.log",
                                     "records.tar.gz"]
  record = json.loads((out / "evidence.json").read_text())
  assert record["dry_run"] and record["machine"]["platform"] == "cpu"
  assert record["machine"]["jax"] and record["machine"]["clu"]
  parts = record["parts"]
  assert {p: parts[p]["status"] for p in ("preflight", "step", "kmeans",
                                          "demo_step", "pack")} == dict.fromkeys(
      ("preflight", "step", "kmeans", "demo_step", "pack"), "ok")
  step = parts["step"]["results"]
  assert step["step"] > 0 and step["step_gflop"] > 0
  assert "mfu" not in step  # no known peak for a CPU
  assert parts["kmeans"]["results"]["cluster_jax_n3000"] > 0
  assert parts["demo_step"]["results"]["paths_device"] > 0
  plan = record["plan"]
  assert plan["epochs"] == 2 and plan["seeds"] == 2
  assert parts["pretrain"]["status"] == "ok"
  runs = parts["pretrain"]["results"]
  for variant in ("hcsc", "mocov2"):
    run = runs[variant]["seed_0"]
    assert run["finished"] and run["epochs"] == 2
    assert 0 <= run["knn"] <= 1
    assert 0 <= run["linear_fashion_mnist_1pct"]["top1"] <= 1
    assert 0 <= run["knn_fashion_mnist_0.1pct_by_typical"]["knn_top1"] <= 1
  with tarfile.open(out / "records.tar.gz") as tar:
    names = tar.getnames()
  for name in ("bench_step.json", "bench_kmeans.json", "bench_demo_step.json",
               "logs/step.log", "logs/pretrain.log",
               "study/logs/hcsc_seed1.log", "study/study.md",
               "study/hcsc/seed_0/config.json",
               "study/mocov2/seed_0/metrics.jsonl",
               "study/hcsc/seed_0/summary.json",
               "study/hcsc/seed_0/eval/linear_fashion_mnist.json"):
    assert name in names, (name, names)
  assert not [n for n in names if "checkpoints" in n or n.endswith(".npz")]
  # What a host without TensorFlow runs: the trainer says so once and
  # clusters from epoch 1 on the device path.
  with tarfile.open(out / "records.tar.gz") as tar:
    log = tar.extractfile("study/logs/hcsc_seed0.log").read().decode()
    summary = json.load(tar.extractfile("study/hcsc/seed_0/summary.json"))
  assert "TensorFlow is not installed" in log
  assert "cluster_s" in summary["epoch_times"][1]
  assert "pack: " in (out / "evidence.log").read_text()


def test_the_table_is_made_on_the_cpu_from_the_returned_records(
    dry_run, tmp_path):
  out, _ = dry_run
  returned = tmp_path / "returned"
  shutil.copytree(out, returned)
  made = subprocess.run(
      [sys.executable, "-m", "hcsc_jax.benchmark.evidence",
       f"--table={returned}"], cwd=ROOT, capture_output=True, text=True,
      check=False, timeout=600)
  assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
  study = returned / "records" / "study"
  table = (study / "study.md").read_text()
  assert "| hcsc − mocov2 | kNN top-1 @1% |" in table
  assert "linear top-1 @10%" in table and "kNN top-1 @0.1% typical" in table
  # The raw pixels from the committed study, not evaluated again.
  pixels = json.loads((pathlib.Path(ROOT) / "results" / "fashion_mnist_study"
                       / "study.json").read_text())["baselines"]["pixels"]
  row = next(l for l in table.splitlines() if l.startswith("| raw pixels |"))
  assert f"{pixels['knn']['mean']:.4f}" in row and row.endswith("| — |")
  assert "| random init |" not in table
  # Nothing trained or evaluated again: no checkpoints, no new results.
  for variant in ("hcsc", "mocov2"):
    assert not (study / variant / "seed_0" / "checkpoints").exists()


def test_a_deadline_that_leaves_no_time_still_packs(idx_source, tmp_path):
  done = launcher_fixtures.gpu_evidence(tmp_path / "out", tmp_path / "work",
                                        idx_source, "--budget_s=20")
  assert done.returncode == 0, done.stderr[-3000:]
  record = json.loads((tmp_path / "out" / "evidence.json").read_text())
  assert record["parts"]["step"]["status"] == "skipped: no time left"
  assert record["parts"]["pretrain"]["status"].startswith("skipped")
  assert record["parts"]["pack"]["status"] == "ok"
  assert (tmp_path / "out" / "records.tar.gz").exists()


def test_missing_data_ends_the_preflight_with_one_line(tmp_path):
  done = launcher_fixtures.gpu_evidence(tmp_path / "out", tmp_path / "work",
                                        tmp_path)
  assert done.returncode == 2
  (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
  assert "train-images-idx3-ubyte.gz" in line and "gpu_bundle.sh" in line
  assert "Traceback" not in done.stderr


def test_pretraining_buys_epochs_before_seeds():
  # 1,000 s at 10 s an epoch: 90 epochs in all, 45 for each variant.
  plan = evidence.plan_pretraining(1000.0, 10.0, 100, 5, 10.0)
  assert (plan.epochs, plan.seeds, plan.warmup_epochs) == (45, 1, 5)
  # Room for the config's 100 epochs twice over: a second seed.
  plan = evidence.plan_pretraining(5000.0, 10.0, 100, 5, 10.0)
  assert (plan.epochs, plan.seeds) == (100, 2)
  # Few epochs: clustering starts after a fifth of them.
  plan = evidence.plan_pretraining(200.0, 10.0, 100, 5, 10.0)
  assert (plan.epochs, plan.warmup_epochs) == (8, 1)
  assert evidence.plan_pretraining(20.0, 10.0, 100, 5, 10.0) is None


def test_the_bundle_fits_what_a_device_call_carries(idx_source, tmp_path):
  done = subprocess.run(
      ["bash", "launch/gpu_bundle.sh", "--no_wheels", f"--data={idx_source}",
       f"--into={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
      check=False, timeout=120)
  assert done.returncode == 0, done.stderr
  assert sorted(os.listdir(tmp_path / ".bundle" / "fashion-mnist")) == sorted(
      n for pair in (("train-images-idx3-ubyte.gz",
                      "train-labels-idx1-ubyte.gz"),
                     ("t10k-images-idx3-ubyte.gz",
                      "t10k-labels-idx1-ubyte.gz")) for n in pair)
  assert "MiB of 64" in done.stdout
  missing = subprocess.run(
      ["bash", "launch/gpu_bundle.sh", "--no_wheels", f"--data={tmp_path}/x",
       f"--into={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
      check=False, timeout=60)
  assert missing.returncode == 2 and "dataset-fashion-mnist" in missing.stderr
