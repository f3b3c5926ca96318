"""The visual report builds from a smoke run; its statistics are right."""

import os
import re

import numpy as np
import pytest

from hcsc_jax.workdir import restore

from hcsc_jax.training import validation
from hcsc_jax import visualize
from hcsc_jax.viz import figures
from hcsc_jax.viz import stats
from tests.trainer_fixtures import mock_fashion_mnist


def test_grid_has_the_expected_size():
  rows = [np.zeros((3, 10, 12, 3)), np.ones((2, 10, 12, 3))]
  image = figures.grid(rows)
  assert image.shape == (2 * (10 + figures.PAD) + figures.PAD,
                         3 * (12 + figures.PAD) + figures.PAD, 3)
  assert image.dtype == np.uint8


@pytest.fixture(name="smoke_run")
def _smoke_run(tfdata_reference_run):
  """2 epochs, clustering in epoch 1, figures logged at the end (the shared
  tf.data run; the report goes to the test's own folder)."""
  return tfdata_reference_run[0]


def test_trainer_records_statistics_and_logs_figures(smoke_run):
  records = stats.load(smoke_run)
  assert [r["epoch"] for r in records] == [1]
  levels = records[0]["levels"]
  assert [l["num_clusters"] for l in levels] == [8, 4, 2]
  assert sum(levels[0]["sizes"]) == 64
  assert all(0.0 <= l["keep_ratio"] <= 1.0 and 0.0 <= l["purity"] <= 1.0
             for l in levels)
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  events = event_accumulator.EventAccumulator(smoke_run, size_guidance={
      event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0})
  events.Reload()
  tags = events.Tags()
  names = set(tags.get("images", [])) | set(tags.get("tensors", []))
  assert any("hierarchy/selection" in n for n in names), names
  assert any("hierarchy/chain_0" in n for n in names), names


def test_report_builds_with_decodable_pngs_and_inline_images(smoke_run,
                                                             tmp_path):
  import matplotlib.image  # pylint: disable=g-import-not-at-top
  with mock_fashion_mnist():
    path = visualize.build_report(smoke_run, str(tmp_path), sample=48)
  names = sorted(os.listdir(tmp_path))
  assert "report.html" in names and "selection.png" in names
  assert "embedding_map.png" in names and "hierarchy_over_epochs.png" in names
  chains = [n for n in names if n.startswith("chain_")]
  assert chains
  for name in names:
    if name.endswith(".png"):
      image = matplotlib.image.imread(str(tmp_path / name))
      assert image.ndim == 3 and image.shape[0] > 10
  # A chain: one row per level (3) of 8 images, each drawn ~72 px large
  # (the data are 16 px), with level labels on the left.
  chain = matplotlib.image.imread(str(tmp_path / chains[0]))
  assert chain.shape[0] > 3 * 60 and chain.shape[1] > 8 * 60
  with open(path) as f:
    page = f.read()
  assert "<h2>Prototype chain 1: one top-level cluster" in page
  assert "<h3>chain_0.png</h3>" not in page and "<style>" in page
  sources = re.findall(r"src='([^']*)'", page)
  assert len(sources) == len([n for n in names if n.endswith(".png")])
  assert all(s.startswith("data:image/png;base64,") for s in sources)


def test_workdir_before_clustering_names_the_first_epoch(smoke_run, tmp_path):
  with mock_fashion_mnist(), pytest.raises(
      validation.ConfigError,
      match=r"no clustering yet.*from epoch 1 on.*--epoch=2"):
    visualize.build_report(smoke_run, str(tmp_path),
                           restore.step_of_epoch(smoke_run, 1), sample=48)
  with pytest.raises(validation.ConfigError, match=r"available: \[1, 2\]"):
    restore.step_of_epoch(smoke_run, 7)


def test_data_without_images_is_named():
  from hcsc_jax.viz import report  # pylint: disable=g-import-not-at-top

  class _NoImages:
    name = "tabular"
    has_images = False
    feature_names = ("label", "value")

  with pytest.raises(validation.ConfigError,
                     match=r"tabular has no 'image' feature.*'label', "
                     r"'value'"):
    report.load_sample(None, None, None, _NoImages, None, 10)
