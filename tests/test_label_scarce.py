"""Label-scarce protocols: balanced, deterministic subsets; the encoder,
random-init and raw-pixel baselines through the same protocol code."""

import json
import os

import numpy as np
import pytest

from hcsc_jax.configs.eval import knn_fashion_mnist
from hcsc_jax.configs.eval import linear_fashion_mnist
from hcsc_jax.configs.eval import semi_fashion_mnist
from hcsc_jax import errors
from hcsc_jax.evals import label_scarce
from hcsc_jax.evals import logistic
from hcsc_jax.evals import protocols
from hcsc_jax.evals import subsets
from tests.test_evaluate import _eval_config
from tests.test_evaluate import _smoke_workdir  # pylint: disable=unused-import
from tests.trainer_fixtures import mock_fashion_mnist


def test_subsets_are_class_balanced_and_deterministic_per_seed():
  labels = np.repeat(np.arange(10), 100)[np.random.default_rng(0).permutation(1000)]
  draws = subsets.label_draws(labels, 0.05, 0, draws=3, seed=7)
  again = subsets.label_draws(labels, 0.05, 0, draws=3, seed=7)
  other = subsets.label_draws(labels, 0.05, 0, draws=1, seed=8)
  for rows, same in zip(draws, again):
    np.testing.assert_array_equal(rows, same)
    assert np.all(np.diff(rows) > 0)  # sorted, no repeats
    assert np.bincount(labels[rows], minlength=10).tolist() == [5] * 10
  assert not np.array_equal(draws[0], draws[1])
  assert not np.array_equal(draws[0], other[0])
  per_class = subsets.label_draws(labels, 0.0, 2, draws=1, seed=0)[0]
  assert len(per_class) == 20
  with pytest.raises(errors.ConfigError, match="class 0 has 100 labelled "
                     "examples, fewer than the 101"):
    subsets.balanced_subset(labels, 101, 0)
  assert subsets.suffix(0.01, 0) == "_1pct"
  assert subsets.suffix(0.1, 0) == "_10pct"
  assert subsets.suffix(0.0, 25) == "_25perclass"
  assert subsets.suffix(0.0, 0) == ""


def test_over_draws_reports_mean_std_and_each_draw():
  cfg = knn_fashion_mnist.get_config()
  cfg.label_fraction, cfg.label_draws = 0.2, 4
  labels = np.arange(100) % 5
  train = (np.arange(100, dtype=np.float32)[:, None], labels)
  seen = []

  def score(tr, te):  # pylint: disable=unused-argument
    seen.append(tr[1].copy())
    return {"acc": float(len(seen)), "ok": True}
  out = label_scarce.over_draws(train, None, cfg, score)
  assert out["acc_draws"] == [1.0, 2.0, 3.0, 4.0]
  assert out["acc"] == 2.5 and out["acc_std"] == pytest.approx(
      np.std([1, 2, 3, 4], ddof=1))
  assert out["train_examples"] == 20 and out["label_draws"] == 4
  assert out["ok"] is True
  assert all(np.bincount(s).tolist() == [4] * 5 for s in seen)


def test_logistic_regression_separates_separable_features():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(3, 8)) * 4
  y = np.arange(300) % 3
  x = centres[y] + rng.normal(size=(300, 8))
  result = logistic.fit_and_score((x[:150], y[:150]), (x[150:], y[150:]))
  assert result["top1"] > 0.95 and result["converged"]


@pytest.mark.parametrize("encoder, suffix", [("checkpoint", ""),
                                             ("random", "_random"),
                                             ("pixels", "_pixels")])
def test_every_encoder_goes_through_the_same_label_scarce_code(
    smoke_workdir, encoder, suffix):
  with mock_fashion_mnist():
    knn_result = protocols.evaluate(
        _eval_config(knn_fashion_mnist, encoder=encoder, labels_per_class=2,
                     label_draws=3), smoke_workdir)
    linear_result = protocols.evaluate(
        _eval_config(linear_fashion_mnist, encoder=encoder,
                     label_fraction=0.25, label_draws=2), smoke_workdir)
  assert knn_result["name"] == f"knn_fashion_mnist_2perclass{suffix}"
  assert linear_result["name"] == f"linear_fashion_mnist_25pct{suffix}"
  assert knn_result["train_examples"] == 20  # 2 of each of 10 classes
  assert linear_result["train_examples"] == 20
  assert len(knn_result["knn_top1_draws"]) == 3
  assert knn_result["knn_top1"] == pytest.approx(
      np.mean(knn_result["knn_top1_draws"]))
  assert len(linear_result["top1_draws"]) == 2
  if encoder == "pixels":
    assert knn_result["encoder"] == "raw pixels"
    assert knn_result["features"] == "pixels"
  path = os.path.join(smoke_workdir, "eval", f"{knn_result['name']}.json")
  with open(path) as f:
    assert json.load(f)["knn_top1_draws"] == knn_result["knn_top1_draws"]


def test_raw_pixels_of_grayscale_images_are_one_channel(smoke_workdir):
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  cfg = _eval_config(knn_fashion_mnist)
  from hcsc_jax.evals import run_data  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  run_data.settle(cfg, workdirs.load_config(smoke_workdir))
  with mock_fashion_mnist():
    dataset = sources.open_dataset(cfg.data)
    features, labels = label_scarce.pixel_features(
        dataset, cfg.data.eval_split, 32, sharding.make_mesh())
  size = cfg.data.image_size
  assert features.shape == (len(labels), size * size)


def test_semi_supervised_takes_the_same_subsets_and_pixels_are_refused(
    smoke_workdir):
  cfg = _eval_config(semi_fashion_mnist, "10pct", labels_per_class=2,
                     **{"classifier.batch_size": 8})
  with mock_fashion_mnist():
    result = protocols.evaluate(cfg, smoke_workdir)
  listed = np.loadtxt(os.path.join(smoke_workdir, "eval", result["name"],
                                   "subset_2perclass.txt"), dtype=int)
  assert result["train_examples"] == len(listed) == 20
  with pytest.raises(errors.ConfigError, match="encoder='pixels' has no "
                     "network to train"):
    protocols.evaluate(_eval_config(linear_fashion_mnist, encoder="pixels",
                                    **{"classifier.method": "sgd"}),
                       smoke_workdir)


def test_a_label_fraction_smaller_than_k_is_refused_at_start_up():
  from hcsc_jax.configs import fashion_mnist  # pylint: disable=g-import-not-at-top
  from hcsc_jax.training import validation  # pylint: disable=g-import-not-at-top
  config = fashion_mnist.get_config()
  config.knn.label_fractions = (0.001, 1.5)
  problems = validation.config_problems(config, num_examples=60000)
  assert any("knn.label_fractions: 0.001 of the 60000 training examples is "
             "fewer than k=200" in p for p in problems), problems
  assert any("1.5 is not a fraction in (0, 1]" in p for p in problems)
  config.knn.label_fractions = (0.01,)
  assert not validation.config_problems(config, num_examples=60000)
