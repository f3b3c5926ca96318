"""The `label_budget` part: seconds to choose which images to label first
(evals/label_budget.py) among N synthetic features, for each rule and
budget. The `prototypes` rule reads a hierarchy HCSC already built (here a
synthetic one: each point's generating centre, centres grouped upward);
`typical` runs its own k-means of the N features into `budget` clusters,
which is most of its time."""

from __future__ import annotations

import time

import numpy as np

from hcsc_jax.benchmark import synthetic


def _hierarchy(points: np.ndarray, centre_of: np.ndarray, counts):
  """(assignments, similarities, parents) with level 0 = the generating
  centres and each level above grouping the one below at random."""
  from hcsc_jax.evals import label_budget  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  assignments, parents, centroids = [centre_of], [], []
  for below, above in zip(counts, counts[1:]):
    parents.append(rng.integers(0, above, below))
    assignments.append(parents[-1][assignments[-1]])
  for level, count in enumerate(counts):
    sums = np.zeros((count, points.shape[1]), np.float64)
    np.add.at(sums, assignments[level], points)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    centroids.append(sums.astype(np.float32))
  return label_budget.hierarchy_arrays(points, centroids, assignments,
                                       parents)


def _collections(args):
  """(N, points, their generating centres, a hierarchy) for each N of
  --budget_sizes: L2-normalised --budget_dim features around the first
  level's centres."""
  rng = np.random.default_rng(0)
  counts = tuple(args.clusters)
  centres = synthetic.unit_rows(rng, counts[0], args.budget_dim)
  for size in (int(n) for n in args.budget_sizes.split(",")):
    centre_of = rng.integers(0, counts[0], size)
    points = centres[centre_of] + 0.3 / np.sqrt(args.budget_dim) * rng.normal(
        size=(size, args.budget_dim)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    yield size, points, centre_of, _hierarchy(points, centre_of, counts)


def bench_label_budget(args) -> dict[str, float]:
  from hcsc_jax.evals import label_budget  # pylint: disable=g-import-not-at-top
  results = {}
  for size, points, _, tree in _collections(args):
    for fraction in (float(f) for f in args.budget_fractions.split(",")):
      budget = max(1, round(fraction * size))
      for rule in ("prototypes", "typical", "random"):
        start = time.perf_counter()
        choice = label_budget.choose(rule, budget, 0, features=points,
                                     hierarchy=tree)
        seconds = time.perf_counter() - start
        assert len(choice.rows) == budget
        results[f"label_budget_{rule}_n{size}_b{budget}"] = seconds
        print(f"label_budget {rule}: {budget} of {size} in {seconds:.2f} s",
              flush=True)
  return results


def bench_label_round(args) -> dict[str, float]:
  """Seconds of one round of the labelling loop among N synthetic features
  with --round_labels labelled (10 classes): the neighbour graph (once per
  collection), `predict`'s auto predictor (cross-validating spreading and
  logistic regression, then the chosen one on every image), and choosing
  the next --round_budget images with each rule."""
  from hcsc_jax.labelling import labels_file  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import neighbours  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import next_batch  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import prediction  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import predictors  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  results = {}
  for size, points, centre_of, tree in _collections(args):
    rows = rng.choice(size, args.round_labels, replace=False)
    labels = labels_file.UserLabels(rows, centre_of[rows] % 10,
                                    [str(c) for c in range(10)])

    def timed(name, work):
      start = time.perf_counter()
      out = work()
      seconds = time.perf_counter() - start
      results[f"label_round_{name}_n{size}"] = seconds
      print(f"label_round {name}: N={size} in {seconds:.2f} s", flush=True)
      return out
    spreader = timed("graph", lambda: predictors.Spreader(
        neighbours.knn_graph(points, predictors.GRAPH_K)))
    models = {"spread": spreader,
              "logistic": lambda r, y, c: predictors.logistic(points, r, y, c)}

    def predict():
      chosen, _, _ = prediction.cross_validated(models, labels.rows,
                                                labels.labels, 10)
      return models[chosen](labels.rows, labels.labels, 10)
    probabilities = timed("predict_auto", predict)
    pool = next_batch.Pool(points, tree)
    for rule in ("typical", "hierarchy", "margin", "probcover", "random"):
      if rule == "probcover" and size > neighbours.EXACT_LIMIT:
        continue
      choice = timed(f"select_{rule}", lambda rule=rule: next_batch.choose(
          rule, pool, rows, args.round_budget, 0, probabilities, 10))
      assert len(choice.rows) == args.round_budget
  return results
