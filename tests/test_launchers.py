"""Cluster launchers: valid bash, and dry runs print the commands they
would run."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHERS = ("launch/slurm.sbatch", "launch/single_node.sh",
             "launch/tpu_pod.sh", "launch/setup.sh", "launch/test.sh",
             "launch/demo.sh", "launch/gpu_benchmark.sh",
             "launch/gpu_study.sh", "launch/gpu_evidence.sh",
             "launch/gpu_bundle.sh", "launch/gpu_host.sh")


def _bash(args, **env):
  return subprocess.run(["bash", *args], cwd=ROOT, capture_output=True,
                        text=True, check=False,
                        env=dict(os.environ, **env), timeout=60)


@pytest.mark.parametrize("script", LAUNCHERS)
def test_launchers_parse(script):
  assert _bash(["-n", script]).returncode == 0


def test_slurm_dry_run():
  out = _bash(["launch/slurm.sbatch", "configs/hcsc_r50_imagenet.py",
               "/shared/run", "--config.batch_size=512"], DRY_RUN="1",
              SLURM_JOB_NUM_NODES="4")
  assert out.returncode == 0, out.stderr
  assert "nodes: 4 x 8 GPUs" in out.stdout
  assert ("srun --ntasks-per-node=1 --kill-on-bad-exit=1 .venv/bin/python -m "
          "hcsc_jax.main --config=configs/hcsc_r50_imagenet.py "
          "--workdir=/shared/run --config.batch_size=512") in out.stdout
  assert "--xla_gpu_enable_latency_hiding_scheduler=true" in out.stdout


def test_single_node_dry_run():
  out = _bash(["launch/single_node.sh", "configs/fashion_mnist.py", "/w"],
              DRY_RUN="1", CUDA_VISIBLE_DEVICES="0,1")
  assert out.returncode == 0, out.stderr
  assert "GPUs: 0,1" in out.stdout
  assert (".venv/bin/python -m hcsc_jax.main --config=configs/fashion_mnist.py"
          " --workdir=/w") in out.stdout


def test_tpu_pod_dry_run():
  out = _bash(["launch/tpu_pod.sh", "pod", "us-central2-b",
               "configs/hcsc_r50_imagenet.py", "gs://b/run",
               "--config.data.data_dir=gs://b/tfds"], DRY_RUN="1", SETUP="1")
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert len(lines) == 3
  assert lines[0].startswith("gcloud compute tpus tpu-vm scp --recurse")
  assert "--worker=all" in lines[2] and "HCSC_DISTRIBUTED=auto" in lines[2]
  assert "--config.kmeans.backend=jax" in lines[2]
  assert "--config.data.data_dir=gs://b/tfds" in lines[2]


def test_missing_arguments_print_usage():
  for script in ("launch/slurm.sbatch", "launch/single_node.sh",
                 "launch/tpu_pod.sh"):
    out = _bash([script], DRY_RUN="1")
    assert out.returncode != 0 and "usage:" in out.stderr, script


def test_gpu_study_dry_run_makes_the_table_on_the_cpu(gpu_study_dry_run):
  """The GPU study's tiny mode, as the evidence script runs it (conftest):
  2 seeds x 2 variants as 2 concurrent `study --only` processes on the
  smoke config, then the table with the label-fraction columns and without
  the baseline rows (--nobaselines)."""
  workdir, out = gpu_study_dry_run
  assert out.returncode == 0, (out.stdout[-2000:], out.stderr[-2000:])
  for variant in ("hcsc", "mocov2"):
    for seed in (0, 1):
      log = (workdir / "logs" / f"{variant}_seed{seed}.log").read_text()
      assert f"study run {variant} seed {seed} done" in log
  table = (workdir / "study.md").read_text()
  assert "kNN top-1 @1%" in table and "linear top-1 @10%" in table
  assert "| random init |" not in table and "| raw pixels |" not in table
  assert "kNN top-1 @0.1% typical" in table  # --protocols
  assert "| hcsc − mocov2 | kNN top-1 @1% |" in table
