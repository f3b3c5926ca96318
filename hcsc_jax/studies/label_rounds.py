"""The label-loop study: simulated labelling rounds on a pre-trained run,
with the data set's true labels as the oracle.

For each rule of labelling/next_batch.py (plus `kmeans`, the hierarchy rule
on flat k-means clusters of the same embeddings with the same counts: the
ablation of HCSC's learned tree), start from nothing and label in rounds:
10 images at a time up to 100, then 100 at a time up to 1,000. After each
round, record:
- test accuracy of a kNN (k = 10, fixed) and a logistic classifier trained
  on the labelled images (the 10,000 test images, never seen otherwise);
- for every predictor of labelling/predictors.py, the accuracy of its
  predicted labels on the images not labelled (what a user gets), the
  coverage at >= 95% precision (the largest share of them, most confident
  first, that is >= 95% right), and the AUROC of two doubt scores (1 -
  confidence, 1 - margin) for its errors;
- for the main predictor, what the labelled set alone estimates
  (cross-validated accuracy, the confidence threshold for 95% precision)
  and what that threshold really gives on the pool;
- with 5% of the oracle's answers flipped (seeded), the precision of the
  top of the suspected-typo list at k = the number flipped;
- the classes covered, and the seconds the predictions and the choice took.

Features are embedded once per run and kept in `<output>/features/`.
"""

from __future__ import annotations

import json
import os
import time
from typing import Sequence

import numpy as np

from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import label_budget
from hcsc_jax.labelling import doubts
from hcsc_jax.labelling import neighbours
from hcsc_jax.labelling import next_batch
from hcsc_jax.labelling import prediction
from hcsc_jax.labelling import predictors
from hcsc_jax.runtime import reporting

SCHEDULE = tuple(range(10, 101, 10)) + tuple(range(200, 1001, 100))
RULES = next_batch.RULES + ("kmeans",)
MAIN_PREDICTOR = "auto"   # labelling/prediction.py's default
TEST_KNN_K = 10
TYPO_SHARE = 0.05


# Features.

def embed_run(workdir: str, path: str) -> dict:
  """The run's training split (backbone and key-head embeddings, its
  hierarchy) and test split (backbone), cached in `path` (.npz)."""
  if os.path.exists(path):
    with np.load(path) as data:
      return {k: data[k] for k in data.files}
  from hcsc_jax.embedding import collection as collection_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  collection = collection_lib.run_collection(workdir, backbone=True)
  if collection.held_out.any():
    raise ConfigError(f"{workdir}: the study reads runs without held-out "
                      "images (Fashion-MNIST's train/test splits).")
  state, _, config, model = workdirs.restore(workdir)
  dataset = sources.open_dataset(config.data)
  test, test_labels = features_lib.encoder_features(
      model, state.params, state.batch_stats, dataset,
      config.data.eval_split, config.embed_batch_size, sharding.make_mesh(),
      "backbone", "embedding the test split (backbone)")
  assignments, similarities, parents = collection.hierarchy()
  record = {"train": collection.backbone, "head": collection.head,
            "train_labels": collection.labels, "test": test,
            "test_labels": test_labels,
            "num_clusters": np.asarray([int(p.shape[0]) for p in parents]
                                       + [int(assignments[-1].max()) + 1])}
  for level, a in enumerate(assignments):
    record[f"assignments_{level}"] = a
    record[f"similarities_{level}"] = similarities[level]
  for level, p in enumerate(parents):
    record[f"parents_{level}"] = p
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".partial.npz"
  np.savez(tmp, **record)
  os.replace(tmp, path)
  return record


def _levels(record: dict, name: str) -> list[np.ndarray]:
  out, level = [], 0
  while f"{name}_{level}" in record:
    out.append(np.asarray(record[f"{name}_{level}"]))
    level += 1
  return out


def hierarchy_of(record: dict) -> tuple:
  return (_levels(record, "assignments"), _levels(record, "similarities"),
          _levels(record, "parents"))


def flat_kmeans_tree(head: np.ndarray, counts: Sequence[int], seed: int,
                     backend: str = "faiss") -> tuple:
  """The ablation's clusters: an independent k-means of the embeddings
  per level (the same counts as HCSC's), each cluster's parent the
  coarser cluster most of its images fall in."""
  points = neighbours.unit(head)
  kmeans = label_budget._kmeans(backend)  # pylint: disable=protected-access
  assignments = []
  for level, count in enumerate(counts):
    _, assigned, _ = kmeans(points, int(count), seed + level,
                            label_budget.KMEANS_ITERATIONS, 1, 256, 1)
    assignments.append(np.asarray(assigned, np.int64))
  parents = []
  for level in range(len(counts) - 1):
    pairs = np.zeros((int(counts[level]), int(counts[level + 1])), np.int64)
    np.add.at(pairs, (assignments[level], assignments[level + 1]), 1)
    parents.append(np.argmax(pairs, axis=1))
  similarities = [np.ones(points.shape[0], np.float32) for _ in counts]
  return assignments, similarities, parents


# Metrics.

def auroc(score: np.ndarray, positive: np.ndarray) -> float:
  """Area under the ROC curve of `score` for `positive` (ties count half);
  nan without both classes."""
  positive = np.asarray(positive, bool)
  n_pos, n_neg = int(positive.sum()), int((~positive).sum())
  if n_pos == 0 or n_neg == 0:
    return float("nan")
  from scipy.stats import rankdata  # pylint: disable=g-import-not-at-top
  ranks = rankdata(score)
  return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2)
               / (n_pos * n_neg))


def coverage_at(confidence: np.ndarray, correct: np.ndarray,
                precision: float = doubts.TARGET_PRECISION) -> float:
  """The largest share of images, most confident first, whose
  predictions are at least `precision` right."""
  order = np.argsort(-confidence, kind="stable")
  cumulative = np.cumsum(correct[order]) / np.arange(1, order.size + 1)
  good = np.flatnonzero(cumulative >= precision)
  return float((good[-1] + 1) / order.size) if good.size else 0.0


def _predictor_metrics(probabilities: np.ndarray, truth: np.ndarray,
                       pool: np.ndarray) -> dict:
  predicted, confidence, _, margin = predictors.top_two(probabilities[pool])
  correct = predicted == truth[pool]
  return {"pool_accuracy": float(correct.mean()),
          "coverage95": coverage_at(confidence, correct),
          "auroc_confidence": auroc(-confidence, ~correct),
          "auroc_margin": auroc(-margin, ~correct)}


class Simulation:
  """One run's features, predictors and rules, shared by every rule."""

  def __init__(self, record: dict, seed: int, backend: str = "faiss"):
    self.seed = seed
    self.truth = np.asarray(record["train_labels"], np.int64)
    self.test_truth = np.asarray(record["test_labels"], np.int64)
    self.num_classes = int(max(self.truth.max(), self.test_truth.max())) + 1
    train = neighbours.unit(record["train"])
    self.both = np.concatenate([train, neighbours.unit(record["test"])])
    self.count = train.shape[0]
    start = time.perf_counter()
    self.spreader = predictors.Spreader(
        neighbours.knn_graph(train, predictors.GRAPH_K))
    self.graph_seconds = time.perf_counter() - start
    self.hierarchy = hierarchy_of(record)
    self.pool = next_batch.Pool(train, self.hierarchy, backend, self.truth)
    self.flat = None
    self.counts = [int(c) for c in record["num_clusters"]]
    self.head = record["head"]
    self.backend = backend

  def predict(self, name: str, rows: np.ndarray, labels: np.ndarray
              ) -> np.ndarray:
    """[N_train (+ N_test for knn/logistic), C] probabilities."""
    c = self.num_classes
    if name == "spread":
      return self.spreader(rows, labels, c)
    if name == "knn":
      return predictors.knn(self.both, rows, labels, c)
    if name == "logistic":
      return predictors.logistic(self.both, rows, labels, c)
    assignments, _, parents = self.hierarchy
    return predictors.hierarchy(assignments, parents, rows, labels, c)

  def choose(self, rule: str, labelled: np.ndarray, budget: int,
             probabilities, round_seed: int) -> np.ndarray:
    if rule == "kmeans":
      if self.flat is None:
        self.flat = flat_kmeans_tree(self.head, self.counts, self.seed,
                                     self.backend)
      return next_batch.by_hierarchy(self.pool, labelled, budget,
                                     round_seed, probabilities,
                                     self.flat).rows
    if rule == "margin" and labelled.size == 0:  # nothing to be unsure of
      rule = "typical"
    labels_seen = np.unique(self.truth[labelled]).size if labelled.size else 0
    return next_batch.choose(
        rule, self.pool, labelled, budget, round_seed,
        probabilities if labelled.size else None,
        num_classes=self.num_classes if labels_seen else None).rows

  def _models(self, names) -> dict:
    """name -> (rows, labels, C) -> [N_train, C]; spreading keeps its
    `many` (all cross-validation folds in one solve)."""
    return {n: (self.spreader if n == "spread" else
                (lambda r, y, c, n=n: self.predict(n, r, y)[:self.count]))
            for n in names}

  def round_record(self, labelled: np.ndarray, round_seed: int
                   ) -> tuple[dict, np.ndarray]:
    """(the round's measurements, the main predictor's [N, C])."""
    labels = self.truth[labelled]
    pool = np.setdiff1d(np.arange(self.count), labelled)
    record = {"labelled": int(labelled.size),
              "classes_covered": int(np.unique(labels).size)}
    start = time.perf_counter()
    probabilities = {}
    for name in predictors.PREDICTORS:
      probabilities[name] = self.predict(name, labelled, labels)
      record[name] = _predictor_metrics(probabilities[name][:self.count],
                                        self.truth, pool)
    for name, key in (("knn", "test_knn"), ("logistic", "test_logistic")):
      predicted = np.argmax(probabilities[name][self.count:], axis=1)
      record[key] = float(np.mean(predicted == self.test_truth))
    record["predict_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    chosen, oos, accuracy = prediction.cross_validated(
        self._models(prediction.AUTO_CANDIDATES), labelled, labels,
        self.num_classes, round_seed)
    main = probabilities[chosen][:self.count]
    record["auto"] = dict(record[chosen], chosen=chosen,
                          cross_validated=accuracy)
    est = doubts.estimate(oos, labels)
    record["estimated_accuracy"] = est.accuracy
    record["doubt_seconds"] = time.perf_counter() - start
    if est.threshold is not None:
      confident = pool[main[pool].max(axis=1) >= est.threshold]
      record["estimated_threshold"] = est.threshold
      record["estimated_coverage"] = confident.size / pool.size
      record["estimated_coverage_precision"] = (float(np.mean(
          np.argmax(main[confident], axis=1) == self.truth[confident]))
          if confident.size else float("nan"))
    record["typo_precision"] = self._typo_precision(labelled, round_seed,
                                                    chosen)
    return record, main

  def _typo_precision(self, labelled: np.ndarray, round_seed: int,
                      predictor: str) -> float:
    rng = np.random.default_rng(10_000 + round_seed)
    labels = self.truth[labelled].copy()
    flips = max(1, int(round(TYPO_SHARE * labelled.size)))
    flipped = rng.choice(labelled.size, flips, replace=False)
    labels[flipped] = (labels[flipped] + rng.integers(
        1, self.num_classes, flips)) % self.num_classes
    oos = doubts.model_out_of_sample(self._models((predictor,))[predictor],
                                     labelled, labels, self.num_classes,
                                     round_seed)
    top = doubts.label_issues(oos, labels)[:flips]
    return float(np.isin(top, flipped).mean())

  def run(self, rule: str, schedule: Sequence[int] = SCHEDULE) -> list[dict]:
    labelled = np.zeros(0, np.int64)
    probabilities, out = None, []
    for number, target in enumerate(schedule):
      start = time.perf_counter()
      rows = self.choose(rule, labelled, target - labelled.size,
                         probabilities, self.seed * 1000 + number)
      choose_seconds = time.perf_counter() - start
      if np.intersect1d(rows, labelled).size or np.unique(rows).size != \
          rows.size:
        raise AssertionError(f"{rule} picked an image twice")
      labelled = np.concatenate([labelled, rows])
      record, probabilities = self.round_record(labelled,
                                                self.seed * 1000 + number)
      record["choose_seconds"] = choose_seconds
      out.append(record)
      reporting.log(
          f"{rule} seed {self.seed}: {labelled.size} labels, pool "
          f"{record[MAIN_PREDICTOR]['pool_accuracy']:.4f}, test kNN "
          f"{record['test_knn']:.4f}, classes {record['classes_covered']}")
    return out


def run_study(workdirs: Sequence[str], output: str,
              rules: Sequence[str] = RULES,
              schedule: Sequence[int] = SCHEDULE,
              backend: str = "faiss") -> dict:
  """Every rule on every run (seed = position in `workdirs`); records
  `<output>/seed_<s>/<rule>.json`, skipped when present (a study resumes)."""
  for rule in rules:
    if rule not in RULES:
      raise ConfigError(f"--rules: {rule!r} is unknown; choose from "
                        f"{list(RULES)}.")
  for seed, workdir in enumerate(workdirs):
    directory = os.path.join(output, f"seed_{seed}")
    todo = [r for r in rules
            if not os.path.exists(os.path.join(directory, f"{r}.json"))]
    if not todo:
      continue
    record = embed_run(workdir, os.path.join(output, "features",
                                             f"seed_{seed}.npz"))
    simulation = Simulation(record, seed, backend)
    os.makedirs(directory, exist_ok=True)
    for rule in todo:
      rounds = simulation.run(rule, schedule)
      path = os.path.join(directory, f"{rule}.json")
      with open(path + ".partial", "w", encoding="utf-8") as f:
        json.dump({"rule": rule, "seed": seed, "workdir": workdir,
                   "schedule": list(schedule), "main_predictor":
                   MAIN_PREDICTOR, "graph_seconds": simulation.graph_seconds,
                   "rounds": rounds}, f, indent=1)
      os.replace(path + ".partial", path)
  return read_records(output)


def read_records(output: str) -> dict:
  """{rule: {seed: record}} of every finished rule."""
  out: dict = {}
  for name in sorted(os.listdir(output)):
    if not name.startswith("seed_"):
      continue
    for file in sorted(os.listdir(os.path.join(output, name))):
      if file.endswith(".json"):
        with open(os.path.join(output, name, file), encoding="utf-8") as f:
          record = json.load(f)
        out.setdefault(record["rule"], {})[record["seed"]] = record
  return out
