"""The label-budget rules (evals/label_budget.py) on synthetic features:
budgets, the prototype rule's walk down a hierarchy, TypiClust's typical
images, the random yardsticks."""

import numpy as np
import pytest

from hcsc_jax import errors
from hcsc_jax.evals import label_budget
from hcsc_jax.studies import runs as study_runs


@pytest.mark.parametrize("text, count", [("500", 500), ("1%", 50),
                                          ("0.01", 50), ("0.5%", 25),
                                          ("0.001", 5), ("0.0001", 1)])
def test_budgets_are_counts_percentages_or_fractions(text, count):
  assert label_budget.parse_budget(text, 5000) == count


@pytest.mark.parametrize("text, message", [
    ("0", "asks for 0 images: the budget must be at least 1"),
    ("-3", "must be at least 1"),
    ("6000", "asks for 6000 images but the set holds 5000"),
    ("200%", "asks for 10000 images but the set holds 5000"),
    ("1.5", "a fractional budget must lie in \\(0, 1\\)"),
    ("lots", "is not a budget")])
def test_bad_budgets_are_one_line_naming_the_flag(text, message):
  with pytest.raises(errors.ConfigError, match=message) as caught:
    label_budget.parse_budget(text, 5000)
  assert str(caught.value).startswith("--budget=")
  assert "\n" not in str(caught.value)


def test_spread_is_proportional_capped_and_exact():
  shares = label_budget.spread(np.array([6, 3, 1]), 5, np.array([9, 9, 9]))
  assert shares.tolist() == [3, 2, 0]
  shares = label_budget.spread(np.array([100, 1, 1]), 6, np.array([2, 5, 5]))
  assert shares.sum() == 6 and shares[0] == 2
  with pytest.raises(ValueError):
    label_budget.spread(np.ones(2), 5, np.array([1, 1]))


def _tree():
  """1,000 points in 10 separated blobs and a 3-level k-means of them."""
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(10, 16)) * 4
  blobs = np.repeat(np.arange(10), 100)
  points = centres[blobs] + rng.normal(size=(1000, 16))
  return points.astype(np.float32), blobs, label_budget.hierarchy_of(
      points, (50, 20, 5))


@pytest.fixture(scope="module", name="tree")
def _tree_fixture():
  return _tree()


def _rows_of(choice):
  rows = choice.rows.tolist()
  assert len(rows) == len(set(rows)) == len(choice.reasons)
  return rows


@pytest.mark.parametrize("budget", [3, 5, 12, 20, 33, 50, 80])
def test_prototypes_take_the_level_that_fits_and_spread_the_rest_down(
    tree, budget):
  _, _, (assignments, similarities, parents) = tree
  sizes = [np.bincount(a) for a in assignments]
  filled = [int(np.count_nonzero(s)) for s in sizes]
  rows = np.array(_rows_of(label_budget.choose("prototypes", budget,
                                               hierarchy=tree[2])))
  assert rows.size == budget
  top = len(assignments) - 1
  if budget < filled[top]:  # the largest top-level prototypes, one each
    picked = assignments[top][rows]
    assert len(set(picked.tolist())) == budget
    assert sorted(sizes[top][picked]) == sorted(np.sort(sizes[top])[-budget:])
    return
  level = min(l for l in range(top + 1) if filled[l] <= budget)
  # Every prototype of the level that fits is represented ...
  assert set(assignments[level][rows].tolist()) == set(
      np.flatnonzero(sizes[level]).tolist())
  # ... by its nearest image.
  for p in np.flatnonzero(sizes[level]):
    members = np.flatnonzero(assignments[level] == p)
    best = members[np.argmax(similarities[level][members])]
    assert best in rows
  if level > 0:  # the rest: distinct children one level down
    below = assignments[level - 1][rows]
    assert len(set(below.tolist())) == budget


def test_prototypes_above_the_finest_level_add_central_images(tree):
  _, _, (assignments, _, _) = tree
  rows = _rows_of(label_budget.choose("prototypes", 120, hierarchy=tree[2]))
  assert len(rows) == 120
  assert set(assignments[0][rows].tolist()) == set(
      np.flatnonzero(np.bincount(assignments[0])).tolist())


def test_typical_covers_separated_blobs_and_is_fixed_by_its_seed(tree):
  points, blobs, _ = tree
  first = label_budget.choose("typical", 10, 0, features=points)
  # One image per k-means cluster: nearly every blob (k-means from a random
  # start may merge two blobs and split another; ten random picks cover
  # 6.5 of 10 on average).
  assert len(set(blobs[_rows_of(first)].tolist())) >= 8
  again = label_budget.choose("typical", 10, 0, features=points)
  np.testing.assert_array_equal(first.rows, again.rows)
  other = label_budget.choose("typical", 30, 1, features=points)
  assert len(_rows_of(other)) == 30
  # The most typical image of a blob is near its centre, not at its edge.
  centre = points[blobs == blobs[first.rows[0]]].mean(axis=0)
  distances = np.linalg.norm(points[blobs == blobs[first.rows[0]]] - centre,
                             axis=1)
  assert np.linalg.norm(points[first.rows[0]] - centre) < np.median(distances)


def test_random_rules_and_what_they_need(tree):
  points, blobs, _ = tree
  rows = _rows_of(label_budget.choose("random", 40, 3, features=points))
  assert len(rows) == 40
  balanced = label_budget.choose("random_balanced", 25, 3, labels=blobs)
  counts = np.bincount(blobs[_rows_of(balanced)], minlength=10)
  assert counts.max() - counts.min() <= 1 and counts.sum() == 25
  with pytest.raises(errors.ConfigError, match="needs every image's label"):
    label_budget.choose("random_balanced", 5, 0, labels=np.full(10, -1))
  with pytest.raises(errors.ConfigError, match="'best' is unknown"):
    label_budget.choose("best", 5, 0, features=points)


def test_study_protocols_name_a_selection_rule():
  assert study_runs.parse_protocol("knn@1%:typical") == ("knn", 0.01)
  assert study_runs.label_selection("linear@0.1%:prototypes") == "prototypes"
  assert study_runs.label_selection("knn@1%") == ""
  assert study_runs.metric_label("knn@1%:typical") == "kNN top-1 @1% typical"
  with pytest.raises(errors.ConfigError, match="no label selection rule"):
    study_runs.parse_protocol("knn@1%:best")
  with pytest.raises(errors.ConfigError, match="give its size"):
    study_runs.parse_protocol("knn:typical")


def test_a_study_with_selection_rules_pairs_each_encoder_with_the_pixels(
    tmp_path, monkeypatch):
  """The study evaluates the raw pixels with every seed's draws and rule
  and tabulates encoder − pixels paired by seed; no network is trained
  (the runs and evaluations are stand-ins that record what was asked)."""
  from hcsc_jax.configs import fashion_mnist  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import protocols as protocols_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  asked = []

  def pretrain(config, directory):
    del config, directory
    return {"knn_top1": 0.5, "finished": True}

  def evaluate(cfg, directory):
    del directory
    asked.append((cfg.encoder, cfg.seed, cfg.label_selection,
                  cfg.label_fraction))
    value = 0.6 + 0.01 * cfg.seed + (0.0 if cfg.encoder == "pixels" else
                                     0.05)
    return {"knn_top1": value, "top1": value}

  monkeypatch.setattr(train, "train_and_evaluate", pretrain)
  monkeypatch.setattr(protocols_lib, "evaluate", evaluate)
  protocols = ["knn@1%:prototypes", "knn@1%"]
  table = study_runs.run_study(fashion_mnist.get_config(), str(tmp_path),
                               ["hcsc"], [0, 1, 2], protocols, None,
                               study_runs.eval_config)
  # (seed 0's pixels are also the baseline row; a real study reads that
  # evaluation back from its file instead of asking twice)
  pixels = {a for a in asked if a[0] == "pixels"}
  assert pixels == {("pixels", s, rule, 0.01) for s in (0, 1, 2)
                    for rule in ("prototypes", "")}
  assert "| hcsc − raw pixels | kNN top-1 @1% prototypes | +0.0500 |" in table
  assert "kNN top-1 @1% prototypes" in table.splitlines()[2]


def test_typical_and_fresh_hierarchies_run_on_the_jax_backend(tree):
  """Accelerator hosts may lack faiss: a run with kmeans.backend='jax'
  picks its images with JAX's k-means."""
  points, blobs, _ = tree
  choice = label_budget.choose("typical", 10, 0, features=points,
                               backend="jax")
  assert len(set(blobs[_rows_of(choice)].tolist())) >= 8
  again = label_budget.choose("typical", 10, 0, features=points,
                              backend="jax")
  np.testing.assert_array_equal(choice.rows, again.rows)
  assignments, _, parents = label_budget.hierarchy_of(points, (50, 20, 5),
                                                      backend="jax")
  assert [int(a.max()) < m for a, m in zip(assignments, (50, 20, 5))] == [
      True] * 3
  np.testing.assert_array_equal(assignments[1], parents[0][assignments[0]])
