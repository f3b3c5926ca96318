"""The labelling loop's parts on synthetic features: the predictors, the
doubts and estimates from the labels alone, the next-batch rules, the
user's label files (every bad input one line) and the exported tree."""

import csv
import os

import numpy as np
import pytest

from hcsc_jax import errors
from hcsc_jax.evals import label_budget
from hcsc_jax.labelling import doubts
from hcsc_jax.labelling import export
from hcsc_jax.labelling import labels_file
from hcsc_jax.labelling import neighbours
from hcsc_jax.labelling import next_batch
from hcsc_jax.labelling import predictors


def _blobs(seed=0, per=60, classes=6, dim=12, spread=0.35):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(classes, dim))
  truth = np.repeat(np.arange(classes), per)
  points = centres[truth] + spread * rng.normal(size=(truth.size, dim))
  return points.astype(np.float32), truth


@pytest.fixture(scope="module", name="blobs")
def _blobs_fixture():
  points, truth = _blobs()
  hierarchy = label_budget.hierarchy_of(points, (24, 12, 6), seed=0)
  return points, truth, hierarchy


def test_the_neighbour_graph_is_exact_and_leaves_each_image_out(blobs):
  points, _, _ = blobs
  graph = neighbours.knn_graph(points, 5)
  unit = neighbours.unit(points)
  sims = unit @ unit.T
  np.fill_diagonal(sims, -np.inf)
  expected = np.argsort(-sims, axis=1)[:, :5]
  assert not np.any(graph.indices == np.arange(len(points))[:, None])
  np.testing.assert_array_equal(np.sort(graph.indices, axis=1),
                                np.sort(expected, axis=1))
  np.testing.assert_allclose(graph.similarities,
                             np.take_along_axis(sims, graph.indices, axis=1),
                             atol=1e-5)


def test_radius_graph_and_nearest_other_cluster(blobs):
  points, truth, _ = blobs
  unit = neighbours.unit(points)
  distance = np.sqrt(np.maximum(2 - 2 * unit @ unit.T, 0))
  indptr, indices = neighbours.radius_graph(points, 0.5)
  for row in (0, 100, 359):
    np.testing.assert_array_equal(
        np.sort(indices[indptr[row]:indptr[row + 1]]),
        np.flatnonzero(distance[row] < 0.5))
  other = neighbours.nearest_other_cluster(points, truth)
  masked = np.where(truth[:, None] == truth[None, :], np.inf, distance)
  np.testing.assert_allclose(other, masked.min(axis=1), atol=1e-4)


@pytest.mark.parametrize("name", predictors.PREDICTORS)
def test_every_predictor_learns_separated_classes_from_two_labels_each(
    blobs, name):
  points, truth, (assignments, _, parents) = blobs
  rows = np.concatenate([np.flatnonzero(truth == c)[:2] for c in range(6)])
  if name == "spread":
    probabilities = predictors.Spreader(neighbours.knn_graph(points, 10))(
        rows, truth[rows], 6)
  elif name == "hierarchy":
    probabilities = predictors.hierarchy(assignments, parents, rows,
                                         truth[rows], 6)
  else:
    probabilities = getattr(predictors, name)(points, rows, truth[rows], 6)
  assert probabilities.shape == (len(points), 6)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
  assert np.mean(np.argmax(probabilities, axis=1) == truth) > 0.9


def test_the_hierarchy_predictor_backs_off_to_the_parent():
  # Two finest prototypes under one parent; only the first is labelled.
  assignments = [np.array([0, 0, 1, 1, 2]), np.array([0, 0, 0, 0, 1])]
  parents = [np.array([0, 0, 1])]
  p = predictors.hierarchy(assignments, parents, np.array([0, 4]),
                           np.array([1, 0]), 2)
  assert np.argmax(p[2]) == 1  # unlabelled sibling takes the parent's class
  assert p[0, 1] > p[2, 1] > 0.5


def test_top_two_gives_runner_up_and_margin():
  p = np.array([[0.1, 0.6, 0.3], [0.5, 0.5, 0.0]])
  predicted, confidence, runner, margin = predictors.top_two(p)
  assert predicted.tolist() == [1, 0] and runner.tolist() == [2, 1]
  np.testing.assert_allclose(confidence, [0.6, 0.5])
  np.testing.assert_allclose(margin, [0.3, 0.0])


def test_out_of_sample_never_sees_the_images_own_label(blobs):
  points, truth, _ = blobs
  rows = np.arange(0, 360, 9)

  def predict(r, y):
    assert not np.isin(r, held).all() or r.size == 0
    return predictors.knn(points, r, y, 6)
  held = np.array([], np.int64)
  seen = []

  def spy(r, y):
    seen.append(set(r.tolist()))
    return predict(r, y)
  oos = doubts.out_of_sample(spy, rows, truth[rows], seed=0)
  assert len(seen) == doubts.FOLDS
  assert all(len(s) < rows.size for s in seen)
  for r in rows:  # each image is left out of exactly one fold
    assert sum(int(r) not in s for s in seen) == 1
  assert oos.shape == (rows.size, 6)
  # A flipped label is the most suspect.
  labels = truth[rows].copy()
  labels[3] = (labels[3] + 1) % 6
  oos = doubts.out_of_sample(lambda r, y: predictors.knn(points, r, y, 6),
                             rows, labels, seed=0)
  assert doubts.label_issues(oos, labels)[0] == 3
  estimate = doubts.estimate(oos, labels)
  assert 0.9 < estimate.accuracy < 1.0
  # 40 labels cannot show 95% precision with confidence; 180 can.
  assert estimate.threshold is None and "do not yet show 95%" in estimate.reason
  rows = np.arange(0, 360, 2)
  oos = doubts.out_of_sample(lambda r, y: predictors.knn(points, r, y, 6),
                             rows, truth[rows], seed=0)
  assert doubts.estimate(oos, truth[rows]).threshold is not None


def test_wilson_lower_bound():
  np.testing.assert_allclose(doubts.wilson_lower(100, 100), 0.9737, atol=1e-4)
  np.testing.assert_allclose(doubts.wilson_lower(19, 20), 0.8040, atol=1e-4)
  assert doubts.wilson_lower(0, 10) == 0.0


def test_the_estimate_needs_enough_labels():
  oos = np.tile([[0.8, 0.2]], (5, 1))
  estimate = doubts.estimate(oos, np.zeros(5, np.int64))
  assert estimate.threshold is None and "fewer than" in estimate.reason
  assert estimate.accuracy == 1.0


@pytest.mark.parametrize("rule", next_batch.RULES)
def test_every_rule_picks_new_distinct_images(blobs, rule):
  points, truth, hierarchy = blobs
  pool = next_batch.Pool(points, hierarchy, true_labels=truth)
  labelled = np.arange(0, 360, 30)
  probabilities = predictors.knn(points, labelled, truth[labelled], 6)
  choice = next_batch.choose(rule, pool, labelled, 25, seed=1,
                             probabilities=probabilities, num_classes=6)
  assert len(choice.rows) == 25 == len(choice.reasons)
  assert len(set(choice.rows.tolist())) == 25
  assert not set(choice.rows.tolist()) & set(labelled.tolist())
  again = next_batch.choose(rule, pool, labelled, 25, seed=1,
                            probabilities=probabilities, num_classes=6)
  np.testing.assert_array_equal(choice.rows, again.rows)


def test_first_round_rules_cover_the_classes(blobs):
  points, truth, hierarchy = blobs
  pool = next_batch.Pool(points, hierarchy)
  for rule in ("typical", "hierarchy", "probcover"):
    rows = next_batch.choose(rule, pool, [], 6, seed=0).rows
    assert len(set(truth[rows].tolist())) >= 5, rule


def test_rules_refuse_what_they_cannot_do(blobs):
  points, _, _ = blobs
  pool = next_batch.Pool(points)
  with pytest.raises(errors.ConfigError, match="needs labels"):
    next_batch.choose("margin", pool, [], 5)
  with pytest.raises(errors.ConfigError, match="needs the run's hierarchy"):
    next_batch.choose("hierarchy", pool, [], 5)
  with pytest.raises(errors.ConfigError, match="between 1 and 350"):
    next_batch.choose("random", pool, np.arange(10), 351)
  with pytest.raises(errors.ConfigError, match="'best' is unknown"):
    next_batch.choose("best", pool, [], 5)


def test_probcover_radius_is_the_purity_quantile(blobs):
  points, _, _ = blobs
  pool = next_batch.Pool(points)
  radius = next_batch.probcover_radius(pool, 6)
  _, assigned, _ = label_budget._kmeans("faiss")(  # pylint: disable=protected-access
      pool.features, 6, 0, label_budget.KMEANS_ITERATIONS, 1, 256, 1)
  other = neighbours.nearest_other_cluster(points, assigned)
  assert np.mean(other >= radius) >= next_batch.PROBCOVER_PURITY
  assert np.mean(other > radius) < next_batch.PROBCOVER_PURITY + 0.01
  # Covered everything: the rest by margin, never a repeat.
  rows = next_batch.probcover(pool, np.arange(0, 360, 2), 150, 6, 0,
                              np.full((360, 6), 1 / 6)).rows
  assert len(set(rows.tolist())) == 150


def test_typical_later_rounds_go_to_clusters_without_labels():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(5, 8)) * 3
  truth = np.repeat(np.arange(5), [20, 20, 20, 200, 200])
  points = (centres[truth] + 0.3 * rng.normal(size=(truth.size, 8))
            ).astype(np.float32)
  # Classes 0-2 labelled but for one image each: their clusters are not
  # empty of labels, so the next picks go to the unlabelled classes.
  labelled = np.concatenate([np.flatnonzero(truth == c)[1:]
                             for c in range(3)])
  choice = label_budget.typical(points, 4, 0, labelled=labelled)
  assert set(truth[choice.rows].tolist()) <= {3, 4}
  assert not set(choice.rows.tolist()) & set(labelled.tolist())


def _csv(path, rows, header=("path", "label"), encoding="utf-8"):
  with open(path, "w", newline="", encoding=encoding) as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return str(path)


PATHS = ["a/1.png", "a/2.png", "b/3.png", "b/4.png"]


def test_labels_round_trip_any_text_and_later_files_correct(tmp_path):
  first = _csv(tmp_path / "one.csv", [["a/1.png", 'chat, "noir"'],
                                      ["b/3.png", "Eichhörnchen"],
                                      ["b/4.png", ""]])
  second = _csv(tmp_path / "two.csv", [["b/3.png", "écureuil 🐿"],
                                       ["a/2.png", 'chat, "noir"']])
  labels = labels_file.read([first, second], PATHS)
  assert labels.class_names == sorted(['chat, "noir"', "écureuil 🐿"])
  assert labels.rows.tolist() == [0, 2, 1]
  assert [labels.class_names[i] for i in labels.labels] == [
      'chat, "noir"', "écureuil 🐿", 'chat, "noir"']
  assert labels.corrected == 1
  # Absolute paths under the folder's root name the same images.
  root = str(tmp_path / "photos")
  third = _csv(tmp_path / "abs.csv", [[os.path.join(root, "a/1.png"), "x"],
                                      ["b/4.png", "y"]])
  assert labels_file.read([third], PATHS, root).rows.tolist() == [0, 3]


@pytest.mark.parametrize("rows,header,encoding,message", [
    ([["c/9.png", "x"], ["a/1.png", "y"]], ("path", "label"), "utf-8",
     r"one.csv line 2: 'c/9.png' is not an image of this collection"),
    ([["a/1.png", ""], ["b/3.png", " "]], ("path", "label"), "utf-8",
     "no labels in .*'label' column is empty"),
    ([["a/1.png", "x"], ["b/3.png", "x"]], ("path", "label"), "utf-8",
     "every label .* is 'x'; label images of at least two classes"),
    ([["a/1.png", "x"], ["b/3.png", "y"], ["a/1.png", "z"]],
     ("path", "label"), "utf-8",
     "one.csv lines 2 and 4 give 'a/1.png' two labels"),
    ([["a/1.png", "chat"], ["b/3.png", "écureuil"]], ("path", "label"),
     "latin-1", "one.csv line 3 is not UTF-8 text .* save the file as UTF-8"),
    ([["a/1.png", "x"]], ("file", "label"), "utf-8",
     "has no column 'path'"),
    ([["", "x"], ["b/3.png", "y"]], ("path", "label"), "utf-8",
     "line 2 has the label 'x' but no path"),
])
def test_bad_label_files_are_one_line_naming_file_and_line(
    tmp_path, rows, header, encoding, message):
  path = _csv(tmp_path / "one.csv", rows, header, encoding)
  with pytest.raises(errors.ConfigError, match=message):
    labels_file.read([path], PATHS)


def test_export_writes_class_folders_whole_or_not_at_all(tmp_path):
  root = tmp_path / "photos"
  for name in PATHS:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(name.encode())
  rows = [{"path": "a/1.png", "label": "cat/dog", "source": "human",
           "confidence": "0.5"},
          {"path": "a/2.png", "label": "cat/dog", "source": "predicted",
           "confidence": "0.99"},
          {"path": "b/3.png", "label": "écureuil", "source": "predicted",
           "confidence": "0.20"}]
  picked = export.chosen(rows, "confident", 0.9)
  assert [r["path"] for r in picked] == ["a/1.png", "a/2.png"]
  out = tmp_path / "out"
  counts = export.write_tree(export.chosen(rows, "all", None), str(out),
                             str(root))
  assert counts == {"cat/dog": 2, "écureuil": 1}
  link = out / "cat_dog" / "a__1.png"
  assert link.is_symlink() and link.read_bytes() == b"a/1.png"
  assert (out / "écureuil" / "b__3.png").read_bytes() == b"b/3.png"
  with open(out / "labels.csv", encoding="utf-8") as f:
    listed = list(csv.DictReader(f))
  assert [r["file"] for r in listed] == ["cat_dog/a__1.png",
                                         "cat_dog/a__2.png",
                                         "écureuil/b__3.png"]
  with pytest.raises(errors.ConfigError, match="not an empty folder"):
    export.write_tree(rows, str(out), str(root))
  copies = tmp_path / "copies"
  export.write_tree(rows[:1], str(copies), str(root), copy=True)
  assert not (copies / "cat_dog" / "a__1.png").is_symlink()
  missing = [dict(rows[0], path="a/gone.png")]
  with pytest.raises(errors.ConfigError, match="is not a file"):
    export.write_tree(missing, str(tmp_path / "never"), str(root))
  assert not (tmp_path / "never").exists()
  assert not [p for p in os.listdir(tmp_path) if ".partial" in p]
  clash = [dict(rows[0], label="a/b"), dict(rows[1], label="a_b")]
  with pytest.raises(errors.ConfigError, match="both become the folder"):
    export.write_tree(clash, str(tmp_path / "clash"), str(root))
