"""Which images to label next, given the ones labelled so far.

Rules (`RULES`; the measurements behind the default are in README "Label a
collection" and results/label_loop_study):

- `auto` (the default): `typical` while the labelled set, this batch
  included, stays within AUTO_SWITCH images, `margin` beyond. On
  Fashion-MNIST typical points were as good as any rule up to a few
  hundred labels and margin the best from there (TypiClust's and
  ProbCover's "phase transition").
- `hierarchy`: ours. A cut of HCSC's prototype tree into |labelled| +
  budget clusters: from the top level, the cluster with the largest size x
  impurity is split into its child prototypes until the cut holds that many
  (below the top level's count, top prototypes are merged by Ward linkage
  of their mean features). Impurity is 1 - the largest share of one
  predicted class among the cluster's images (1 before any labels). Picks
  go first to clusters without a labelled image, largest first, then to
  the cluster with the largest size x impurity / (labelled + 1); within a
  cluster, the most typical image not yet labelled (TypiClust's
  typicality), or, in a cluster that already holds labels, the most
  doubtful (smallest margin) of its more typical half.
- `typical`: TypiClust (evals/label_budget.py), any round.
- `probcover`: ProbCover (Yehuda et al., NeurIPS 2022): balls of radius
  delta around every image, delta the largest whose purity (the share of
  balls holding one k-means cluster, k = the number of classes) is >= 0.95;
  greedily the image whose ball covers the most images not yet covered.
  Once everything is covered, the most doubtful images (as `margin`).
- `margin`: the images whose two most probable classes are closest.
- `prototypes`: HCSC's first-round rule (evals/label_budget.py) asked for
  |labelled| + budget images; the first `budget` not labelled yet.
- `random`, and `random_balanced` (needs every image's true class: the
  yardstick of a simulation, not something a user can do).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import label_budget
from hcsc_jax.labelling import neighbours

RULES = ("auto", "hierarchy", "typical", "probcover", "margin",
         "prototypes", "random", "random_balanced")
AUTO_SWITCH = 300
NEED_LABELS = ("margin",)
NEED_HIERARCHY = ("hierarchy", "prototypes")
PROBCOVER_PURITY = 0.95
Choice = label_budget.Choice


@dataclasses.dataclass
class Pool:
  """What the rules read about the images a batch is chosen from."""
  features: np.ndarray                  # [N, D] backbone features
  hierarchy: Optional[tuple] = None     # (assignments, similarities, parents)
  kmeans_backend: str = "faiss"
  true_labels: Optional[np.ndarray] = None  # random_balanced only
  cache: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    self.features = neighbours.unit(self.features)

  @property
  def size(self) -> int:
    return self.features.shape[0]


def check_rule(rule: str, field: str = "--strategy") -> None:
  if rule not in RULES:
    raise ConfigError(f"{field}={rule!r} is unknown; choose one of "
                      f"{list(RULES)}.")


def _margin_order(probabilities: np.ndarray, candidates: np.ndarray
                  ) -> np.ndarray:
  top = -np.sort(-probabilities[candidates], axis=1)
  margin = top[:, 0] - (top[:, 1] if top.shape[1] > 1 else 0.0)
  return candidates[np.argsort(margin, kind="stable")]


def margin(probabilities: np.ndarray, labelled: np.ndarray, budget: int
           ) -> Choice:
  free = np.setdiff1d(np.arange(probabilities.shape[0]), labelled)
  rows = _margin_order(probabilities, free)[:budget]
  return Choice(rows, ["two most probable classes closest"] * len(rows))


# ProbCover.

def probcover_radius(pool: Pool, num_classes: int, seed: int = 0) -> float:
  """The largest delta whose purity is >= PROBCOVER_PURITY: a ball is
  pure when no image of another k-means cluster lies inside it, i.e. when
  its radius is at most the distance to the nearest such image."""
  key = ("probcover_radius", num_classes, seed)
  if key not in pool.cache:
    _, assigned, _ = label_budget._kmeans(pool.kmeans_backend)(  # pylint: disable=protected-access
        pool.features, num_classes, seed, label_budget.KMEANS_ITERATIONS, 1,
        256, 1)
    other = neighbours.nearest_other_cluster(pool.features, assigned)
    pool.cache[key] = float(np.quantile(other, 1.0 - PROBCOVER_PURITY,
                                        method="lower"))
  return pool.cache[key]


def probcover(pool: Pool, labelled: np.ndarray, budget: int,
              num_classes: int, seed: int = 0,
              probabilities: Optional[np.ndarray] = None) -> Choice:
  if pool.size > neighbours.EXACT_LIMIT:
    raise ConfigError(
        f"--strategy=probcover builds an exact graph of every pair closer "
        f"than its radius, quadratic in the images: above "
        f"{neighbours.EXACT_LIMIT} of them ({pool.size} here) use "
        "--strategy=typical or --strategy=hierarchy.")
  radius = probcover_radius(pool, num_classes, seed)
  key = ("radius_graph", radius)
  if key not in pool.cache:
    pool.cache[key] = neighbours.radius_graph(pool.features, radius)
  indptr, indices = pool.cache[key]
  covered = np.zeros(pool.size, bool)
  degree = np.diff(indptr).astype(np.int64)

  def cover(row):
    ball = indices[indptr[row]:indptr[row + 1]]
    fresh = ball[~covered[ball]]
    covered[fresh] = True
    for y in fresh:  # y is covered now: it no longer counts for its balls
      degree[indices[indptr[y]:indptr[y + 1]]] -= 1
    return fresh.size

  for row in np.asarray(labelled, np.int64):
    cover(row)
  taken = np.zeros(pool.size, bool)
  taken[np.asarray(labelled, np.int64)] = True
  rows, reasons = [], []
  while len(rows) < budget:
    candidate = np.where(taken, -1, degree)
    best = int(np.argmax(candidate))
    if candidate[best] <= 0:
      break
    gained = cover(best)
    taken[best] = True
    rows.append(best)
    reasons.append(f"its ball (radius {radius:.3f}) covers {gained} images "
                   "not covered yet")
  if len(rows) < budget:  # everything covered: the released code stops
    free = np.flatnonzero(~taken)
    if probabilities is not None:
      rest = _margin_order(probabilities, free)[:budget - len(rows)]
      why = "everything covered; two most probable classes closest"
    else:
      rest = np.random.default_rng(seed).choice(free, budget - len(rows),
                                                replace=False)
      why = "everything covered; drawn at random"
    rows += [int(r) for r in rest]
    reasons += [why] * len(rest)
  return Choice(np.asarray(rows, np.int64), reasons)


# The hierarchy rule.

def _children(parents: Sequence[np.ndarray]) -> list[dict]:
  out = []
  for parent in parents:
    table: dict = {}
    for child, p in enumerate(np.asarray(parent, np.int64)):
      table.setdefault(int(p), []).append(child)
    out.append(table)
  return out


def _impurity(predicted: Optional[np.ndarray], members: np.ndarray) -> float:
  if predicted is None or members.size == 0:
    return 1.0
  return 1.0 - np.bincount(predicted[members]).max() / members.size


def tree_cut(assignments: Sequence[np.ndarray],
             parents: Sequence[np.ndarray], features: np.ndarray,
             target: int, predicted: Optional[np.ndarray] = None
             ) -> list[np.ndarray]:
  """Member rows of each cluster of a cut of the tree into about `target`
  clusters (fewer when even the finest level has fewer)."""
  top = len(assignments) - 1
  members = [{} for _ in assignments]
  for level, assigned in enumerate(assignments):
    order = np.argsort(assigned, kind="stable")
    bounds = np.flatnonzero(np.diff(assigned[order])) + 1
    for part in np.split(order, bounds):
      members[level][int(assigned[part[0]])] = part
  children = _children(parents)
  nodes = [(top, p) for p in sorted(members[top])]
  if target < len(nodes):
    from sklearn.cluster import AgglomerativeClustering  # pylint: disable=g-import-not-at-top
    means = np.stack([features[members[top][p]].mean(axis=0)
                      for _, p in nodes])
    groups = AgglomerativeClustering(n_clusters=max(target, 1),
                                     linkage="ward").fit_predict(means)
    return [np.concatenate([members[top][nodes[i][1]]
                            for i in np.flatnonzero(groups == g)])
            for g in range(max(target, 1))]
  priority = {node: members[node[0]][node[1]].size
              * _impurity(predicted, members[node[0]][node[1]])
              for node in nodes}
  while len(nodes) < target:
    splittable = [n for n in nodes if n[0] > 0 and len(
        [c for c in children[n[0] - 1].get(n[1], [])
         if c in members[n[0] - 1]]) > 1]
    if not splittable:
      break
    node = max(splittable, key=lambda n: (priority[n], -n[0], -n[1]))
    kids = [(node[0] - 1, c) for c in children[node[0] - 1][node[1]]
            if c in members[node[0] - 1]]
    nodes.remove(node)
    for kid in kids:
      rows = members[kid[0]][kid[1]]
      priority[kid] = rows.size * _impurity(predicted, rows)
    nodes += kids
  return [members[level][p] for level, p in nodes]


def by_hierarchy(pool: Pool, labelled: np.ndarray, budget: int, seed: int,
                 probabilities: Optional[np.ndarray] = None,
                 hierarchy: Optional[tuple] = None) -> Choice:
  assignments, _, parents = hierarchy or pool.hierarchy
  assignments = [np.asarray(a, np.int64) for a in assignments]
  predicted = (None if probabilities is None
               else np.argmax(probabilities, axis=1))
  doubt = (None if probabilities is None
           else 1.0 - np.abs(np.diff(-np.sort(-probabilities, axis=1)[:, :2],
                                     axis=1)[:, 0]))
  taken = np.zeros(pool.size, bool)
  taken[np.asarray(labelled, np.int64)] = True
  clusters = tree_cut(assignments, parents, pool.features,
                      int(taken.sum()) + budget, predicted)
  sizes = np.asarray([c.size for c in clusters], np.float64)
  held = np.asarray([int(taken[c].sum()) for c in clusters], np.float64)
  impurity = np.asarray([_impurity(predicted, c) for c in clusters])
  rng = np.random.default_rng(seed)
  ranked: dict = {}
  rows, reasons = [], []
  while len(rows) < budget:
    open_ = np.asarray([held[i] < sizes[i] for i in range(len(clusters))])
    uncovered = open_ & (held == 0)
    if uncovered.any():
      score = np.where(uncovered, sizes, -1.0)
    else:
      score = np.where(open_, sizes * np.maximum(impurity, 1e-6)
                       / (held + 1.0), -1.0)
    c = int(np.argmax(score))
    if c not in ranked:
      members = clusters[c]
      ranked[c] = members[np.argsort(
          -label_budget._typicality(pool.features[members], rng),  # pylint: disable=protected-access
          kind="stable")]
    free = ranked[c][~taken[ranked[c]]]
    if held[c] == 0 or doubt is None:
      row, why = int(free[0]), (f"most typical of a cluster of "
                                f"{int(sizes[c])} images with no label yet")
    else:
      half = free[:max(1, free.size // 2)]
      row = int(half[np.argmax(doubt[half])])
      why = (f"most doubtful of the typical half of a cluster of "
             f"{int(sizes[c])} images ({int(held[c])} labelled, impurity "
             f"{impurity[c]:.2f})")
    rows.append(row)
    reasons.append(why)
    taken[row] = True
    held[c] += 1
  return Choice(np.asarray(rows, np.int64), reasons)


def by_prototypes(pool: Pool, labelled: np.ndarray, budget: int) -> Choice:
  ask = min(pool.size, len(labelled) + budget)
  choice = label_budget.by_prototypes(*pool.hierarchy, ask)
  done = set(np.asarray(labelled, np.int64).tolist())
  keep = [i for i, r in enumerate(choice.rows) if int(r) not in done]
  keep = keep[:budget]
  rows = [int(choice.rows[i]) for i in keep]
  reasons = [choice.reasons[i] for i in keep]
  if len(rows) < budget:  # the walk ran into labelled images: top up
    rest = np.setdiff1d(np.arange(pool.size), np.concatenate(
        [np.asarray(labelled, np.int64), np.asarray(rows, np.int64)]))
    extra = label_budget.typical(pool.features[rest], budget - len(rows), 0,
                                 pool.kmeans_backend)
    rows += [int(rest[r]) for r in extra.rows]
    reasons += extra.reasons
  return Choice(np.asarray(rows, np.int64), reasons)


def choose(rule: str, pool: Pool, labelled, budget: int, seed: int = 0,
           probabilities: Optional[np.ndarray] = None,
           num_classes: Optional[int] = None) -> Choice:
  """`budget` images not in `labelled` (row indices) picked by `rule`.
  `probabilities` ([N, C], the current predictions) feed `margin` and
  `hierarchy`; `num_classes` is ProbCover's k (the classes named so far,
  else the top level's prototype count)."""
  check_rule(rule)
  labelled = np.unique(np.asarray(labelled, np.int64))
  free = pool.size - labelled.size
  if not 1 <= budget <= free:
    raise ConfigError(f"--budget={budget}: choose between 1 and {free} "
                      f"(the images not labelled yet of {pool.size}).")
  if rule in NEED_HIERARCHY and pool.hierarchy is None:
    raise ConfigError(f"--strategy={rule} needs the run's hierarchy, and "
                      "this checkpoint has none (a MoCo v2 run, or one still "
                      "in warm-up); use --strategy=typical.")
  if rule in NEED_LABELS and probabilities is None:
    raise ConfigError(f"--strategy={rule} needs labels to predict from: "
                      "pass --labels=<csv>, or use --strategy=typical for "
                      "the first batch.")
  if rule == "auto":
    rule = ("typical" if probabilities is None
            or labelled.size + budget <= AUTO_SWITCH else "margin")
  if rule == "hierarchy":
    return by_hierarchy(pool, labelled, budget, seed, probabilities)
  if rule == "typical":
    return label_budget.typical(pool.features, budget, seed,
                                pool.kmeans_backend, labelled)
  if rule == "probcover":
    if num_classes is None:
      num_classes = (int(np.unique(pool.hierarchy[0][-1]).size)
                     if pool.hierarchy is not None else 10)
    return probcover(pool, labelled, budget, num_classes, seed,
                     probabilities)
  if rule == "margin":
    return margin(probabilities, labelled, budget)
  if rule == "prototypes":
    return by_prototypes(pool, labelled, budget)
  free_rows = np.setdiff1d(np.arange(pool.size), labelled)
  if rule == "random":
    rows = np.random.default_rng(seed).choice(free_rows, budget,
                                              replace=False)
    return Choice(rows.astype(np.int64), ["drawn at random"] * budget)
  truth = (pool.true_labels if pool.true_labels is not None
           else np.full(pool.size, -1))  # refused there, in one line
  picked = label_budget.random_balanced(truth[free_rows], budget, seed)
  return Choice(free_rows[picked.rows], picked.reasons)
