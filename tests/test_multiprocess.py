"""A real 2-process run on localhost (CPU collectives over gloo): both
processes agree on the hierarchy and the parameters, and match a 1-process
run with the same global batch and data shards."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from hcsc_jax.data.datasets import fashion_mnist_files
from hcsc_jax.data.datasets import idx
from hcsc_jax.data.tfdata import pipeline
from hcsc_jax.data import specs
from hcsc_jax import errors
from hcsc_jax.runtime import distributed
from hcsc_jax.training import train
from tests.trainer_fixtures import smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config_for(data_dir: str, source: str):
  """Smoke config on a real 64-image build (mock data ignores the split
  slices each process reads), two data shards."""
  return smoke_config(**{"data.data_dir": data_dir, "data.manual_dir": source,
                         "data.num_shards": 2, "knn.enabled": False,
                         "eval_every": 0})


@pytest.fixture(scope="module", name="tiny_data")
def _tiny_data(tmp_path_factory):
  source = tmp_path_factory.mktemp("idx")
  rng = np.random.default_rng(0)
  for split, count in (("train", 64), ("test", 16)):
    images_name, labels_name = fashion_mnist_files.FILES[split]
    idx.write_idx(
        str(source / images_name),
        rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
    idx.write_idx(str(source / labels_name), np.arange(count) % 10)
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  pipeline.load_builder(config_for(data_dir, str(source)).data)  # prepare once
  return data_dir, str(source)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_agree_and_match_one_process(tiny_data, tmp_path):
  data_dir, source = tiny_data
  workdir = str(tmp_path / "two")
  port = _free_port()
  children = []
  for index in range(2):
    env = dict(os.environ, PYTHONPATH=ROOT,
               HCSC_COORDINATOR=f"localhost:{port}", HCSC_NUM_PROCESSES="2",
               HCSC_PROCESS_ID=str(index))
    children.append(subprocess.Popen(
        [sys.executable, "-m", "tests.multiprocess_runner", workdir,
         data_dir, source], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True))
  outputs = [child.communicate(timeout=900) for child in children]
  for child, (out, err) in zip(children, outputs):
    assert child.returncode == 0, err[-3000:]
    assert "final: epochs=2" in out
  first, second = (np.load(os.path.join(workdir, f"process_{i}.npz"))
                   for i in range(2))
  assert len(first.files) == len(second.files) > 0
  for name in first.files:
    np.testing.assert_array_equal(first[name], second[name])

  summary = train.train_and_evaluate(config_for(data_dir, source),
                                     str(tmp_path / "one"))
  assert summary["step"] == 8
  reference = train.Run(config_for(data_dir, source), str(tmp_path / "one"))
  state = jax.device_get(reference.state)
  leaves = jax.tree.leaves((state.params, state.key_params, state.queue,
                            state.batch_stats, state.hierarchy))
  assert len(leaves) == len(first.files)
  for i, want in enumerate(leaves):
    np.testing.assert_allclose(first[f"arr_{i}"], want, rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("env, message", [
    ({"HCSC_NUM_PROCESSES": "2", "HCSC_PROCESS_ID": "0"},
     "HCSC_COORDINATOR missing"),
    ({"HCSC_COORDINATOR": "localhost:1234", "HCSC_NUM_PROCESSES": "2",
      "HCSC_PROCESS_ID": "2"}, r"HCSC_PROCESS_ID=2 is not in \[0, 2\)"),
    ({"HCSC_COORDINATOR": "localhost", "HCSC_NUM_PROCESSES": "2",
      "HCSC_PROCESS_ID": "0"}, "must be host:port"),
    ({"HCSC_COORDINATOR": "h:1", "HCSC_NUM_PROCESSES": "two",
      "HCSC_PROCESS_ID": "0"}, "must be integers"),
])
def test_inconsistent_process_settings_fail_before_work(env, message):
  with pytest.raises(errors.TopologyError, match=message):
    distributed.initialize_from_environment(env)


def test_single_process_initialises_nothing():
  assert not distributed.initialize_from_environment({})
  assert not distributed.initialize_from_environment(
      {"SLURM_NTASKS": "1", "TPU_WORKER_HOSTNAMES": "localhost"})


def test_shards_must_fit_processes_and_batch(tiny_data):
  data_dir, source = tiny_data
  config = config_for(data_dir, source)
  config.data.num_shards = 3
  builder = pipeline.load_builder(config.data)
  with pytest.raises(train.validation.ConfigError,
                     match="data.num_shards=3 must be a multiple"):
    pipeline.TrainData(builder, config.data, specs.pretrain_spec(config),
                       0, 2)
