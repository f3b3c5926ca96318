"""Test setup: CPU only, 8 simulated devices, deterministic; one
compilation cache for the session (and the runs it starts in
subprocesses), so the many runs of the same smoke config compile each
step once. It starts empty, so no state carries over between sessions."""

import atexit
import os
import shutil
import tempfile

from tests import xla_flags

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = xla_flags.flags(8, os.environ.get("XLA_FLAGS", ""))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
from hcsc_jax.runtime import xla_cpu  # pylint: disable=wrong-import-position
xla_cpu.apply_defaults()  # the commands' XLA:CPU settings, in tests too
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _CACHE = tempfile.mkdtemp(prefix="hcsc_jax_test_compile_cache_")
  atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

# Import order matters: with tensorflow-cpu 2.21 already loaded, importing
# torchvision 0.29 (CUDA build of torch 2.14) segfaults inside triton's
# import. torch first, then anything that pulls in TensorFlow, is fine.
import torch  # pylint: disable=unused-import,g-import-not-at-top,wrong-import-position
import torchvision  # pylint: disable=unused-import,g-import-not-at-top,wrong-import-position


import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position,wrong-import-order


@pytest.fixture(scope="session", name="idx_source")
def _idx_source(tmp_path_factory):
  """Tiny Fashion-MNIST idx files (64 train, 32 test random images)."""
  from tests.trainer_fixtures import write_fashion_mnist  # pylint: disable=g-import-not-at-top
  return write_fashion_mnist(str(tmp_path_factory.mktemp("idx")))


@pytest.fixture(scope="session", name="tfdata_reference_run")
def _tfdata_reference_run(tmp_path_factory):
  """(workdir, summary, Run holding the final state) of the smoke run on
  the tf.data path (mock data), uninterrupted: 2 epochs of 4 steps,
  clustering from epoch 1, online kNN after each epoch, hierarchy figures
  logged at the end. Every test that reads a finished tf.data workdir
  shares it; tests that write into one take a copy
  (`trainer_fixtures.copied_workdir`)."""
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from tests.trainer_fixtures import mock_fashion_mnist, reference_config  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp("tfdata_uninterrupted"))
  with mock_fashion_mnist():
    config = reference_config()
    summary = train.train_and_evaluate(config, workdir)
    run = train.Run(config, workdir)  # restores the final checkpoint
  return workdir, summary, run


@pytest.fixture(scope="session", name="folder")
def _folder(tmp_path_factory):
  """A user's image folder (tests/folder_fixtures.py): 3 classes in every
  image mode, with unusable files."""
  from tests.folder_fixtures import write_folder  # pylint: disable=g-import-not-at-top
  return write_folder(str(tmp_path_factory.mktemp("images") / "my photos"))


@pytest.fixture(scope="session", name="folder_run")
def _folder_run(folder, tmp_path_factory):
  """The workdir of a finished smoke run on `folder` (in-memory input,
  hierarchy from epoch 1), shared by every test that reads one (the
  folder evaluations add their results under its eval/)."""
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from tests.folder_fixtures import folder_config  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp("folder_run"))
  cache = str(tmp_path_factory.mktemp("folder_cache"))
  train.train_and_evaluate(folder_config(folder, cache), workdir)
  return workdir


@pytest.fixture(scope="session", name="gpu_evidence_dry_run")
def _gpu_evidence_dry_run(idx_source, tmp_path_factory):
  """(out folder, work folder, finished process) of
  `launch/gpu_evidence.sh --dry_run` on the CPU with TensorFlow, TFDS and
  faiss hidden: the benchmarks at tiny sizes, then `launch/gpu_study.sh
  --dry_run` (2 seeds x hcsc, mocov2 as 2 concurrent `study --only`
  processes on the smoke config, then the table without baselines), then
  the packing. test_gpu_evidence checks the script, test_launchers the GPU
  study, test_study the study it made (one study for all three)."""
  from tests.launcher_fixtures import gpu_evidence  # pylint: disable=g-import-not-at-top
  base = tmp_path_factory.mktemp("gpu_evidence")
  finished = gpu_evidence(base / "out", base / "work", idx_source)
  return base / "out", base / "work", finished


@pytest.fixture(scope="session", name="gpu_study_dry_run")
def _gpu_study_dry_run(gpu_evidence_dry_run):
  """(study workdir, finished process) of the GPU study the evidence
  script's dry run made."""
  _, work, finished = gpu_evidence_dry_run
  return work / "study", finished


@pytest.fixture(scope="session", name="device_reference_run")
def _device_reference_run(idx_source, tmp_path_factory):
  """(workdir, summary, Run holding the final state) of the smoke run on
  the in-memory device path, uninterrupted: 2 epochs of 4 steps,
  clustering from epoch 1, checkpoints at steps 4 and 8."""
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from tests.trainer_fixtures import device_smoke_config  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp("device_uninterrupted"))
  config = device_smoke_config(idx_source)
  summary = train.train_and_evaluate(config, workdir)
  return workdir, summary, train.Run(config, workdir)
