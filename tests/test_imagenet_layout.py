"""A miniature ImageNet in the official layout (per-synset train tars, val
tar with official names; one CMYK JPEG, one grayscale JPEG and one PNG
behind a .JPEG name) through everything a user with ImageNet runs: TFDS
preparation from manual_dir, pre-training, kNN evaluation, and the 1%
subset for semi-supervised fine-tuning (subset lists shipped)."""

import json
import os

import jax
import numpy as np
import pytest

from hcsc_jax.configs import hcsc_r50_imagenet
from hcsc_jax.configs.eval import knn_imagenet
from hcsc_jax.configs.eval import semi_imagenet
from hcsc_jax.data.tfdata import pipeline
from hcsc_jax.data import sources
from hcsc_jax.data.datasets import synthetic_imagenet
from hcsc_jax.evals import protocols
from hcsc_jax.runtime import sharding
from hcsc_jax.training import train
from hcsc_jax.data import specs
from tests import trainer_fixtures

SYNSETS = ("n01440764", "n01443537", "n01484850")
PER_SYNSET = 6
VAL = 6


@pytest.fixture(scope="module", name="imagenet")
def _imagenet(tmp_path_factory):
  """(manual_dir, data_dir) of the miniature ImageNet."""
  root = str(tmp_path_factory.mktemp("ilsvrc"))
  names = synthetic_imagenet.names_per_synset(
      synthetic_imagenet.subset_list("1percent"), SYNSETS, PER_SYNSET)
  odd = {names[SYNSETS[0]][1]: "cmyk", names[SYNSETS[1]][2]: "gray",
         names[SYNSETS[2]][3]: "png"}
  synthetic_imagenet.write_layout(root, names, VAL, kinds=odd,
                                  sizes=((48, 64), (64, 48)))
  return root, str(tmp_path_factory.mktemp("tfds"))


def _config(imagenet, **overrides):
  manual_dir, data_dir = imagenet
  c = hcsc_r50_imagenet.get_config("smoke")
  c.data.manual_dir, c.data.data_dir = manual_dir, data_dir
  return trainer_fixtures.override(c, overrides)


def test_tfds_prepares_it_and_every_image_decodes(imagenet):
  config = _config(imagenet)
  dataset = sources.open_dataset(config.data)
  assert dataset.num_examples("train") == len(SYNSETS) * PER_SYNSET
  assert dataset.num_examples("validation") == VAL
  mesh = sharding.make_mesh()
  for split in ("train", "validation"):
    count, batches = dataset.eval_batches(split, 8, mesh)
    host = [jax.device_get(b) for b in batches]
    mask = np.concatenate([b["mask"] for b in host])
    assert mask.sum() == dataset.num_examples(split)  # CMYK, gray, PNG too
    assert host[0]["image"].shape == (8, 16, 16, 3)
    assert np.all(np.isfinite(np.concatenate([b["image"] for b in host])))
  data = pipeline.TrainData(dataset.builder, config.data,
                            specs.pretrain_spec(config))
  batch = next(iter(data.epoch(0)))
  assert batch["query"].dtype == np.uint8  # on_device: crops only
  assert batch["query"].shape == (16, 16, 16, 3)


@pytest.fixture(scope="module", name="imagenet_run")
def _imagenet_run(imagenet, tmp_path_factory):
  """(workdir, summary) of the smoke pre-training on it; both tests below
  evaluate this one run."""
  workdir = str(tmp_path_factory.mktemp("imagenet_run"))
  return workdir, train.train_and_evaluate(_config(imagenet), workdir)


def test_pretraining_and_knn_evaluation_on_it(imagenet, imagenet_run):
  workdir, summary = imagenet_run
  assert summary["step"] == 2 and summary["finished"]
  assert "cluster_s" in summary["epoch_times"][1]
  cfg = knn_imagenet.get_config()  # data settings come from the run
  cfg.knn.ks = (1, 3)
  cfg.batch_size = 8
  result = protocols.evaluate(cfg, workdir)
  assert cfg.data.manual_dir == imagenet[0] and cfg.data.image_size == 16
  assert result["knn_top1"] == summary["knn_top1"]
  with open(os.path.join(workdir, "eval", "knn_imagenet.json")) as f:
    assert json.load(f)["protocol"] == "knn"


def test_one_percent_subset_prepares_offline_from_shipped_lists(
    imagenet, imagenet_run):
  workdir, _ = imagenet_run
  cfg = semi_imagenet.get_config("1pct")
  cfg.classifier.batch_size = 8
  cfg.classifier.epochs = 1
  cfg.classifier.milestones = ()
  cfg.batch_size = 8
  cfg.bn_group_size = 4
  result = protocols.evaluate(cfg, workdir)
  assert cfg.data.name == "imagenet2012_subset/1pct"
  assert result["train_examples"] == len(SYNSETS) * PER_SYNSET
  assert 0.0 <= result["top1"] <= 1.0
  assert not os.path.exists(os.path.join(imagenet[0], "1percent.txt"))
