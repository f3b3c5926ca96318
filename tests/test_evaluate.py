"""Evaluation protocols: the linear probe's optimiser on separable features,
label subsets, and every protocol end to end on a smoke checkpoint."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics

from hcsc_jax.configs.eval import clustering_fashion_mnist
from hcsc_jax.configs.eval import knn_fashion_mnist
from hcsc_jax.configs.eval import linear_fashion_mnist
from hcsc_jax.configs.eval import semi_fashion_mnist
from hcsc_jax.data.tfdata import pipeline
from hcsc_jax.evals import agreement
from hcsc_jax.evals import classifier
from hcsc_jax.evals import cluster_quality
from hcsc_jax.evals import protocols
from hcsc_jax.evals import subsets
from hcsc_jax.runtime.preemption import PreemptionWatcher
from hcsc_jax.runtime import sharding
from hcsc_jax.training import validation
from tests import trainer_fixtures
from tests.test_data import _tiny_source  # pylint: disable=unused-import
from tests.trainer_fixtures import (TESTDATA, copied_workdir,
                                   mock_fashion_mnist, smoke_config)


class _FeaturesAreInput:
  """A 'backbone' that returns its input: the probe trains on given
  features."""

  def apply(self, variables, x, train, output):  # pylint: disable=unused-argument
    return x


def test_linear_probe_separates_separable_features():
  rng = np.random.default_rng(0)
  classes, dim, n = 4, 16, 512
  directions = rng.normal(size=(classes, dim))
  labels = rng.integers(0, classes, n)
  features = directions[labels] * 3 + rng.normal(size=(n, dim))
  cfg = linear_fashion_mnist.get_config().classifier
  cfg.lr = 0.5
  mesh = sharding.make_mesh()
  tx = classifier.make_optimizer(cfg, "linear", steps_per_epoch=8)
  params = {"fc": {"kernel": jnp.zeros((dim, classes)),
                   "bias": jnp.zeros((classes,))}}
  state = jax.device_put(classifier.ClassifierState(
      step=jnp.zeros((), jnp.int32), params=params, batch_stats={},
      opt_state=tx.init(params)), sharding.replicated(mesh))
  step = classifier.make_train_step(_FeaturesAreInput(), tx, "linear", mesh)
  for epoch in range(10):
    order = np.random.default_rng(epoch).permutation(n)
    for start in range(0, n, 64):
      rows = order[start:start + 64]
      batch = {"image": features[rows].astype(np.float32),
               "label": labels[rows].astype(np.int32)}
      state, _ = step(state, sharding.put_batch(batch, mesh))
  fc = jax.device_get(state.params["fc"])
  predicted = np.argmax(features @ fc["kernel"] + fc["bias"], axis=1)
  assert np.mean(predicted == labels) >= 0.99


def test_step_schedule_drops_at_milestones():
  schedule = classifier.step_schedule(5.0, (2, 3), steps_per_epoch=10)
  got = [float(schedule(s)) for s in (0, 19, 20, 29, 30, 99)]
  np.testing.assert_allclose(got, [5.0, 5.0, 0.5, 0.5, 0.05, 0.05],
                             rtol=1e-6)


def test_stratified_subset_takes_each_class_share():
  labels = np.repeat(np.arange(5), [100, 200, 300, 50, 7])
  chosen = subsets.stratified_subset(labels, "10pct", seed=0)
  counts = np.bincount(labels[chosen], minlength=5)
  np.testing.assert_array_equal(counts, [10, 20, 30, 5, 1])
  assert len(np.unique(chosen)) == len(chosen)
  np.testing.assert_array_equal(
      chosen, subsets.stratified_subset(labels, "10pct", seed=0))
  with pytest.raises(validation.ConfigError, match="'2pct' does not exist"):
    subsets.stratified_subset(labels, "2pct", seed=0)


def test_subset_training_reads_exactly_the_listed_examples(tiny_source,
                                                           tmp_path):
  config = smoke_config()
  config.data.data_dir = str(tmp_path)
  config.data.manual_dir = tiny_source
  builder = pipeline.load_builder(config.data)
  labels = pipeline.TFDSDataset(config.data).labels("train")
  np.testing.assert_array_equal(labels, np.arange(40) % 10)
  chosen = subsets.stratified_subset(labels, "10pct", seed=3)
  assert len(chosen) == 10  # one of each class (4 images per class)
  data = pipeline.LabelledTrainData(builder, config.data, batch_size=5,
                                    seed=0, subset=chosen)
  assert data.steps_per_epoch == 2
  for epoch in (0, 1):
    seen = [int(i) for batch in data.epoch(epoch) for i in batch["index"]]
    assert sorted(seen) == sorted(chosen.tolist())
    batches = list(data.epoch(epoch))
    np.testing.assert_array_equal(batches[0]["label"],
                                  batches[0]["index"] % 10)


def test_nmi_and_ami_match_scikit_learn_on_planted_clusters():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(5, 8)) * 5
  labels = np.repeat(np.arange(5), 40)
  features = centres[labels] + 0.1 * rng.normal(size=(200, 8))
  out = cluster_quality.scores(features.astype(np.float32), labels, (5, 10),
                               nredo=10)
  assert out["nmi_5"] == pytest.approx(1.0) and out["ami_5"] == pytest.approx(
      1.0)
  assert out["nmi"] == out["nmi_5"]
  scrambled = cluster_quality.scores(rng.normal(size=(200, 8)).astype(
      np.float32), labels, (5,))
  assert scrambled["nmi"] < 0.2
  assert metrics.adjusted_mutual_info_score(labels, labels) == 1.0


@pytest.fixture(scope="module", name="smoke_workdir")
def _smoke_workdir(tfdata_reference_run, tmp_path_factory):
  """A copy of the shared tf.data smoke run's workdir (conftest): the
  evaluations write their results into it."""
  return copied_workdir(tfdata_reference_run[0], tmp_path_factory,
                        "pretrained")


def _eval_config(module, *args, **overrides):
  c = module.get_config(*args)
  c.data.pipeline = "tfdata"
  c.data.data_dir = TESTDATA
  c.data.image_size = 16
  c.data.eval_resize = 16
  c.batch_size = 32
  c.knn.ks = (1, 3)
  c.knn.chunk = 16
  c.knn.train_chunk = 24
  c.classifier.batch_size = 16
  c.classifier.epochs = 2
  c.classifier.milestones = (1,)
  c.bn_group_size = 4
  c.log_every = 2
  c.clustering.num_clusters = (4, 8)
  return trainer_fixtures.override(c, overrides)


@pytest.mark.parametrize("module, args, overrides, expected", [
    (knn_fashion_mnist, (), {}, ("knn_top1", "knn_top5_k3")),
    (linear_fashion_mnist, (), {}, ("top1", "top5")),
    (linear_fashion_mnist, (), {"classifier.method": "sgd"},
     ("top1", "top5")),
    (semi_fashion_mnist, ("10pct",), {"classifier.batch_size": 8},
     ("top1", "top5")),
    (clustering_fashion_mnist, (), {}, ("nmi_4", "ami_8")),
])
def test_every_protocol_runs_on_a_smoke_checkpoint(smoke_workdir, module,
                                                   args, overrides,
                                                   expected):
  cfg = _eval_config(module, *args, **overrides)
  with mock_fashion_mnist():
    result = protocols.evaluate(cfg, smoke_workdir)
  assert result["protocol"] == cfg.protocol
  for key in expected:
    # Adjusted mutual information is corrected for chance: below 0 when
    # the clusters agree with the labels less than chance would.
    low = -1.0 if key.startswith("ami") else 0.0
    assert low <= result[key] <= 1.0, key
  assert "step 8 (epoch 2)" in result["encoder"]
  with open(os.path.join(smoke_workdir, "eval", f"{cfg.name}.json")) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  if cfg.protocol == "semi_supervised":
    listed = np.loadtxt(os.path.join(smoke_workdir, "eval", cfg.name,
                                     "subset_10pct.txt"), dtype=int)
    assert result["train_examples"] == len(listed) >= 10


def test_random_encoder_results_get_their_own_name(smoke_workdir):
  cfg = _eval_config(knn_fashion_mnist, encoder="random")
  with mock_fashion_mnist():
    result = protocols.evaluate(cfg, smoke_workdir)
  assert result["name"] == "knn_fashion_mnist_random"
  assert result["encoder"].startswith("random init")


def test_pytorch_reference_checkpoint_evaluates_like_the_workdir(
    smoke_workdir, tmp_path):
  """The exported reference-format file gives the workdir's kNN result."""
  from hcsc_jax.interchange import interop  # pylint: disable=g-import-not-at-top
  exported = str(tmp_path / "hcsc.pth.tar")
  interop.export(smoke_workdir, "hcsc", exported)
  with mock_fashion_mnist():
    from_workdir = protocols.evaluate(_eval_config(knn_fashion_mnist),
                                      smoke_workdir)
    from_file = protocols.evaluate(
        _eval_config(knn_fashion_mnist, checkpoint=exported,
                     bn_group_size=4), str(tmp_path / "results"))
  assert from_file["encoder"].startswith(exported)
  assert from_file["knn_top1"] == pytest.approx(from_workdir["knn_top1"],
                                                abs=1.0 / 64)
  assert os.path.exists(tmp_path / "results" / "eval" /
                        "knn_fashion_mnist.json")


def _fc(directory):
  from hcsc_jax.workdir import checkpoints as checkpointing  # pylint: disable=g-import-not-at-top
  manager = checkpointing.Checkpointer(directory, 2).manager
  step = manager.latest_step()
  restored = manager.restore(step)
  manager.close()
  return jax.tree.leaves(restored["state"]["params"]["fc"]), step


def test_linear_probe_resumes_exactly_after_preemption(smoke_workdir,
                                                       monkeypatch):
  sgd = {"classifier.method": "sgd"}
  uninterrupted = _eval_config(linear_fashion_mnist, name="probe_full", **sgd)
  interrupted = _eval_config(linear_fashion_mnist, name="probe_resumed",
                             **sgd)
  polls = {"count": 0}

  def preempt_once(self):  # pylint: disable=unused-argument
    polls["count"] += 1
    return polls["count"] == 3  # mid-epoch 0 (4 steps per epoch)

  with mock_fashion_mnist():
    full = protocols.evaluate(uninterrupted, smoke_workdir)
    monkeypatch.setattr(PreemptionWatcher, "requested",
                        property(preempt_once))
    first = protocols.evaluate(interrupted, smoke_workdir)
    assert first["preempted"] and first["step"] == 3
    monkeypatch.undo()
    resumed = protocols.evaluate(interrupted, smoke_workdir)
  assert resumed["top1"] == full["top1"]
  eval_dir = os.path.join(smoke_workdir, "eval")
  got, got_step = _fc(os.path.join(eval_dir, "probe_resumed"))
  want, want_step = _fc(os.path.join(eval_dir, "probe_full"))
  assert got_step == want_step == 8
  for a, b in zip(got, want):
    np.testing.assert_array_equal(a, b)
  changed = _eval_config(linear_fashion_mnist, name="probe_full", **sgd,
                         **{"classifier.lr": 0.1})
  with mock_fashion_mnist(), pytest.raises(
      validation.ConfigError, match=r"started with different \['classifier'\]"):
    protocols.evaluate(changed, smoke_workdir)


def test_bad_inputs_get_one_clear_line(smoke_workdir, tmp_path):
  with mock_fashion_mnist():
    with pytest.raises(FileNotFoundError, match=r"no checkpoint in .* holds"):
      os.makedirs(tmp_path / "empty" / "checkpoints")
      (tmp_path / "empty" / "config.json").write_text(
          open(os.path.join(smoke_workdir, "config.json")).read())
      (tmp_path / "empty" / "run_info.json").write_text('{"num_examples": 64}')
      protocols.evaluate(_eval_config(knn_fashion_mnist),
                         str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="not a pre-training workdir"):
      protocols.evaluate(_eval_config(knn_fashion_mnist), str(tmp_path))
    with pytest.raises(validation.ConfigError,
                       match="config.arch='resnet50' but the checkpoint "
                       "holds resnet18"):
      protocols.evaluate(_eval_config(knn_fashion_mnist, arch="resnet50"),
                         smoke_workdir)
    with pytest.raises(validation.ConfigError, match="'2pct' does not exist"):
      protocols.evaluate(_eval_config(semi_fashion_mnist, "2pct"),
                         smoke_workdir)
    with pytest.raises(validation.ConfigError, match="protocol='nope'"):
      protocols.evaluate(_eval_config(knn_fashion_mnist, protocol="nope"),
                         smoke_workdir)


def test_unknown_tfds_subset_and_unlabelled_data_are_named(tmp_path):
  data = _eval_config(knn_fashion_mnist).data
  data.name = "imagenet2012_subset/2pct"
  data.data_dir = str(tmp_path)
  with pytest.raises(validation.ConfigError,
                     match=r"imagenet2012_subset/2pct.*10pct.*1pct"):
    pipeline.load_builder(data)

  class _Unlabelled:
    name = "unlabelled_images"
    has_labels = False
    feature_names = ("image",)

  with pytest.raises(validation.ConfigError,
                     match=r"unlabelled_images has no labels.*\['image'\]"):
    subsets.require_labels(_Unlabelled, "knn")



def test_evaluation_inherits_the_runs_data_settings(device_reference_run,
                                                     idx_source, caplog):
  """A smoke run (16 px, device path, its own idx folder) evaluated with
  the stock Fashion-MNIST kNN config (28 px defaults): nothing repeated on
  the command line, and the result is the run's own final kNN."""
  workdir, summary, _ = device_reference_run
  cfg = knn_fashion_mnist.get_config()
  cfg.knn.ks = (1, 3)
  cfg.batch_size = 32
  result = protocols.evaluate(cfg, workdir)
  assert cfg.data.image_size == 16 and cfg.data.eval_resize == 16
  assert cfg.data.pipeline == "device" and cfg.data.manual_dir == idx_source
  assert result["knn_top1"] == summary["knn_top1"]
  override = knn_fashion_mnist.get_config()
  override.knn.ks = (1, 3)
  override.batch_size = 32
  override.data.eval_resize = 20
  with caplog.at_level("WARNING"):
    protocols.evaluate(override, workdir)
  assert "differs from the training run: data.eval_resize: 16 -> 20" in (
      caplog.text)
  assert override.data.eval_resize == 20 and override.data.image_size == 16


def test_purity_and_nmi_match_scikit_learn():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 4, 300)
  assignments = np.where(rng.uniform(size=300) < 0.7, labels,
                         rng.integers(0, 6, 300))
  table = metrics.cluster.contingency_matrix(labels, assignments)
  assert agreement.purity(assignments, labels) == pytest.approx(
      table.max(axis=0).sum() / 300)
  assert agreement.nmi(assignments, labels) == pytest.approx(
      metrics.normalized_mutual_info_score(labels, assignments))
  unlabelled = labels.copy()
  unlabelled[:100] = -1
  keep = unlabelled >= 0
  assert agreement.nmi(assignments, unlabelled) == pytest.approx(
      metrics.normalized_mutual_info_score(labels[keep], assignments[keep]))
