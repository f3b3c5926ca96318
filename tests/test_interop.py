"""PyTorch interchange: export, import, embed, with numerical proof."""

import os
import pickle

import jax
import numpy as np
import pytest
import torch
import torchvision

from hcsc_jax.embedding import arrays as embedding_arrays
from hcsc_jax.interchange import interop
from hcsc_jax.workdir import checkpoints as checkpointing
from hcsc_jax.runtime import sharding
from hcsc_jax.engine import optimizer
from hcsc_jax.engine import state as state_lib
from hcsc_jax.workdir import restore as workdirs
from tests.trainer_fixtures import smoke_config

NUM_EXAMPLES = 64
SIZE = 32


def _config(arch):
  config = smoke_config(arch=arch, width=64, small_stem=False, embed_dim=16)
  config.data.image_size = SIZE
  return config


def _moved_off_init(state, seed=0):
  """Query and key encoders moved off their initial values (and apart), as
  training moves them, without compiling a train step for full-width
  ResNets (a minute on 2 cores): weights get noise, running means leave 0
  and running variances leave 1."""
  rng = np.random.default_rng(seed)

  def move(path, leaf):
    value = np.asarray(jax.device_get(leaf))
    if jax.tree_util.keystr(path).endswith("['var']"):
      value = value * rng.uniform(0.5, 1.5, value.shape)
    else:
      value = value + 0.05 * rng.standard_normal(value.shape)
    return jax.device_put(value.astype(leaf.dtype), leaf.sharding)
  moved = {name: jax.tree_util.tree_map_with_path(move, getattr(state, name))
           for name in ("params", "batch_stats", "key_params",
                        "key_batch_stats")}
  return state.replace(**moved)


def _make_workdir(path, arch):
  """A workdir like the trainer's, its encoders moved off initialisation."""
  config = _config(arch)
  mesh = sharding.make_mesh()
  model = state_lib.build_model(config)
  tx, _ = optimizer.make_optimizer(config, steps_per_epoch=4)
  state = _moved_off_init(state_lib.create_train_state(
      config, model, tx, NUM_EXAMPLES, mesh))
  os.makedirs(path, exist_ok=True)
  checkpoints = checkpointing.Checkpointer(path, 2)
  checkpoints.save(int(state.step), state,
                   checkpointing.Position(1, 0, False))
  checkpoints.close()
  workdirs.save_config(config, path)
  workdirs.save_run_info(path, NUM_EXAMPLES)
  return path


@pytest.fixture(scope="module", name="workdir18")
def _workdir18(tmp_path_factory):
  return _make_workdir(str(tmp_path_factory.mktemp("r18")), "resnet18")


@pytest.fixture(scope="module", name="workdir50")
def _workdir50(tmp_path_factory):
  return _make_workdir(str(tmp_path_factory.mktemp("r50")), "resnet50")


def _images(seed=0, count=3):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(count, SIZE, SIZE, 3)).astype(np.float32)


def _torch_forward(net, images):
  with torch.no_grad():
    return net(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()


def _rel(a, b):
  return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_torchvision_export_loads_strictly_and_matches(arch, workdir18,
                                                       workdir50, tmp_path):
  workdir = workdir18 if arch == "resnet18" else workdir50
  out = str(tmp_path / "backbone.pth")
  interop.export(workdir, "torchvision", out)
  state_dict = torch.load(out, weights_only=True)
  assert not any(k.startswith("fc") for k in state_dict)
  assert "bn1.num_batches_tracked" in state_dict
  net = getattr(torchvision.models, arch)()
  net.fc = torch.nn.Identity()
  net.load_state_dict(state_dict, strict=True)
  images = _images()
  want = _torch_forward(net.eval(), images)
  got = embedding_arrays.embed_images(workdir, images, "backbone")
  assert _rel(got, want) <= 1e-4


def test_hcsc_export_satisfies_linear_eval_and_head_matches(workdir18,
                                                            tmp_path):
  out = str(tmp_path / "hcsc.pth.tar")
  interop.export(workdir18, "hcsc", out)
  record = torch.load(out, weights_only=True)
  assert set(record) == {"epoch", "arch", "state_dict"}
  assert record["arch"] == "resnet18" and record["epoch"] == 1
  state_dict = record["state_dict"]
  assert tuple(state_dict["module.queue"].shape) == (16, 32)  # d x K
  assert state_dict["module.queue_ptr"].item() == 0
  # The original linear-eval loader's contract.
  backbone = {k[len("module.encoder_q."):]: v for k, v in state_dict.items()
              if k.startswith("module.encoder_q.")
              and not k.startswith("module.encoder_q.fc")}
  net = torchvision.models.resnet18()
  result = net.load_state_dict(backbone, strict=False)
  assert set(result.missing_keys) == {"fc.weight", "fc.bias"}
  assert not result.unexpected_keys
  # The MoCo-style encoder with its MLP head gives our head embeddings.
  encoder = torchvision.models.resnet18()
  encoder.fc = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                   torch.nn.Linear(512, 16))
  encoder.load_state_dict({k[len("module.encoder_q."):]: v
                           for k, v in state_dict.items()
                           if k.startswith("module.encoder_q.")}, strict=True)
  images = _images(1)
  want = _torch_forward(encoder.eval(), images)
  want /= np.linalg.norm(want, axis=1, keepdims=True)
  got = embedding_arrays.embed_images(workdir18, images, "head")
  assert _rel(got, want) <= 1e-4


def test_detectron2_and_safetensors_exports(workdir18, tmp_path):
  tv = str(tmp_path / "tv.pth")
  interop.export(workdir18, "torchvision", tv)
  reference = {k: v.numpy() for k, v in
               torch.load(tv, weights_only=True).items()}
  d2 = str(tmp_path / "d2.pkl")
  interop.export(workdir18, "detectron2", d2)
  with open(d2, "rb") as f:
    record = pickle.load(f)  # our own file, written above
  assert record["matching_heuristics"] is True and "__author__" in record
  model = record["model"]
  pairs = {"stem.conv1.weight": "conv1.weight",
           "stem.conv1.norm.running_var": "bn1.running_var",
           "res2.0.conv1.norm.weight": "layer1.0.bn1.weight",
           "res3.0.shortcut.weight": "layer2.0.downsample.0.weight",
           "res3.0.shortcut.norm.running_mean":
               "layer2.0.downsample.1.running_mean",
           "res5.1.conv2.weight": "layer4.1.conv2.weight"}
  for d2_key, tv_key in pairs.items():
    np.testing.assert_array_equal(model[d2_key], reference[tv_key])
  assert len(model) == len([k for k in reference
                            if not k.endswith("num_batches_tracked")])
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  st = str(tmp_path / "backbone.safetensors")
  interop.export(workdir18, "safetensors", st)
  loaded = load_file(st)
  assert set(loaded) == set(reference)
  for key, value in reference.items():
    np.testing.assert_array_equal(loaded[key], value)


def test_round_trip_is_bit_exact(workdir18, tmp_path):
  out = str(tmp_path / "hcsc.pth")
  interop.export(workdir18, "hcsc", out)
  imported = str(tmp_path / "imported")
  interop.import_checkpoint(out, imported, smoke_config(), NUM_EXAMPLES)
  original, _, _, _ = workdirs.restore(workdir18)
  again, position, config, _ = workdirs.restore(imported)
  assert config.arch == "resnet18" and config.width == 64
  assert position.epoch == 1
  for name in ("params", "batch_stats", "key_params", "key_batch_stats",
               "queue", "queue_ptr"):
    for a, b in zip(jax.tree.leaves(getattr(again, name)),
                    jax.tree.leaves(getattr(original, name))):
      np.testing.assert_array_equal(a, b)


def test_import_of_a_pytorch_model_gives_its_features(tmp_path):
  torch.manual_seed(0)
  net = torchvision.models.resnet18()
  net.fc = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU(),
                               torch.nn.Linear(512, 16))
  with torch.no_grad():
    for module in net.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        module.running_mean.uniform_(-0.3, 0.3)
        module.running_var.uniform_(0.5, 1.5)
  path = str(tmp_path / "reference.pth.tar")
  torch.save({"epoch": 200, "arch": "resnet18",
              "state_dict": {f"module.encoder_q.{k}": v
                             for k, v in net.state_dict().items()}}, path)
  workdir = str(tmp_path / "workdir")
  interop.import_checkpoint(path, workdir, smoke_config(), NUM_EXAMPLES)
  images = _images(2)
  want = _torch_forward(net.eval(), images)
  want /= np.linalg.norm(want, axis=1, keepdims=True)
  got = embedding_arrays.embed_images(workdir, images, "head")
  assert _rel(got, want) <= 1e-4
  net.fc = torch.nn.Identity()
  assert _rel(embedding_arrays.embed_images(workdir, images, "backbone"),
              _torch_forward(net, images)) <= 1e-4
  # A plain torchvision state dict (1000-way fc) imports too.
  plain = str(tmp_path / "plain.pth")
  torch.save(torchvision.models.resnet18().state_dict(), plain)
  interop.import_checkpoint(plain, str(tmp_path / "plain"),
                                 smoke_config(), NUM_EXAMPLES)


class Payload:
  """Anything that is not a tensor or plain container."""

  def __reduce__(self):
    return (os.system, ("echo owned > /dev/null",))


def test_pickled_objects_are_refused_not_executed(tmp_path):
  path = str(tmp_path / "evil.pth")
  torch.save({"state_dict": {"conv1.weight": torch.zeros(1)},
              "extra": Payload()}, path)
  with pytest.raises(ValueError, match="refusing to unpickle"):
    interop.import_checkpoint(path, str(tmp_path / "w"), smoke_config(),
                                   NUM_EXAMPLES)


def test_bad_files_get_one_clear_line(tmp_path, workdir18):
  out = str(tmp_path / "good.pth")
  interop.export(workdir18, "torchvision", out)
  truncated = str(tmp_path / "truncated.pth")
  with open(out, "rb") as src, open(truncated, "wb") as dst:
    dst.write(src.read()[:1000])
  with pytest.raises(ValueError, match="not a readable PyTorch file"):
    interop.import_checkpoint(truncated, str(tmp_path / "t"),
                                   smoke_config(), NUM_EXAMPLES)
  state_dict = torch.load(out, weights_only=True)
  del state_dict["layer2.1.bn2.running_var"]
  missing = str(tmp_path / "missing.pth")
  torch.save(state_dict, missing)
  with pytest.raises(ValueError, match="layer2.1.bn2.running_var"):
    interop.import_checkpoint(missing, str(tmp_path / "m"),
                                   smoke_config(), NUM_EXAMPLES)
  wrong = str(tmp_path / "wrong.pth")
  torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, wrong)
  with pytest.raises(ValueError, match="neither a reference"):
    interop.import_checkpoint(wrong, str(tmp_path / "x"), smoke_config(),
                                   NUM_EXAMPLES)
  with pytest.raises(FileNotFoundError, match="config.json"):
    interop.export(str(tmp_path / "empty"), "hcsc", str(tmp_path / "o"))
  with pytest.raises(ValueError, match="--step=99"):
    interop.export(workdir18, "hcsc", str(tmp_path / "o"), step=99)
