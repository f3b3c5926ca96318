"""Which images to label first, for a budget of N labels.

A user with many unlabelled images can label only a few; which few matters
as much as the encoder. Four rules, all deterministic for a seed:

- `prototypes`: HCSC's own answer. Take the hierarchy level whose number
  of (non-empty) prototypes fits the budget, the finest that does, and label
  the image nearest to each of its prototypes; budget left over (it lies
  between that level and the next finer one) goes down the tree: it is
  spread over the chosen level's prototypes by size, and each spends it on
  its largest children (the one already represented excepted), again the
  image nearest to each child's prototype. A budget below the top level's
  size takes the largest top-level prototypes; one above the finest level's
  takes every finest prototype's nearest image and then further central
  images of the largest.
- `typical`: TypiClust's rule (Hacohen et al., ICML 2022): k-means of the
  features into N clusters and, from each, its most typical image, the one
  whose k nearest members of the cluster are closest on average.
- `random`: N images uniformly (what a user without any help does).
- `random_balanced`: the same count from every class: needs the labels,
  which a real user does not have; it is the yardstick the label-scarce
  protocols have always used.

`Choice.reasons` says for each image why it was picked, for the CSV a user
works through.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from hcsc_jax.errors import ConfigError

STRATEGIES = ("prototypes", "typical", "random", "random_balanced")
# Deterministic rules give one subset; random ones a new subset per draw.
DETERMINISTIC = ("prototypes",)
TYPICALITY_NEIGHBOURS = 20    # TypiClust's k
TYPICALITY_REFERENCE = 4096   # members a typicality is measured against
SMALL_CLUSTER = 5             # TypiClust leaves clusters this small out
KMEANS_ITERATIONS = 20


@dataclasses.dataclass
class Choice:
  rows: np.ndarray          # chosen row indices, in the order picked
  reasons: list[str]        # one per row


def check_strategy(strategy: str, field: str = "--strategy") -> None:
  if strategy not in STRATEGIES:
    raise ConfigError(f"{field}={strategy!r} is unknown; choose one of "
                      f"{list(STRATEGIES)}.")


def parse_budget(text, total: int, field: str = "--budget") -> int:
  """'500' -> 500 images; '1%' or '0.01' -> that fraction of `total`
  (rounded, at least one). A budget outside [1, total] is a ConfigError
  naming `field`."""
  spec = str(text).strip()
  try:
    if spec.endswith("%"):
      fraction = float(spec[:-1]) / 100
    elif "." in spec or "e" in spec.lower():
      fraction = float(spec)
    else:
      count, fraction = int(spec), None
  except ValueError:
    raise ConfigError(f"{field}={spec!r} is not a budget: give a count of "
                      "images (500), a percentage (1%) or a fraction "
                      "(0.01).") from None
  if fraction is not None:
    if not spec.endswith("%") and not 0 < fraction < 1:
      raise ConfigError(f"{field}={spec}: a fractional budget must lie in "
                        "(0, 1), e.g. 0.01 for 1%; give a whole number for "
                        "a count of images.")
    count = round(fraction * total)
  if fraction is not None and fraction > 0:
    count = max(1, count)
  if count < 1:
    raise ConfigError(f"{field}={spec} asks for {count} images: the budget "
                      "must be at least 1.")
  if count > total:
    raise ConfigError(f"{field}={spec} asks for {count} images but the set "
                      f"holds {total}; give at most {total}.")
  return int(count)


def _unit(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float32)
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def spread(weights: np.ndarray, total: int, caps: np.ndarray) -> np.ndarray:
  """Integer shares of `total` proportional to `weights`, each at most its
  cap (largest remainders; ties to the lower index)."""
  weights = np.asarray(weights, np.float64)
  caps = np.asarray(caps, np.int64)
  if total > caps.sum():
    raise ValueError(f"cannot spread {total} over caps summing to "
                     f"{caps.sum()}.")
  shares = np.zeros(weights.shape[0], np.int64)
  left = int(total)
  while left > 0:  # a second round only when caps bind
    open_ = shares < caps
    w = np.where(open_, np.maximum(weights, 1e-12), 0.0)
    quota = left * w / w.sum()
    add = np.minimum(np.floor(quota).astype(np.int64), caps - shares)
    rest = left - int(add.sum())
    for i in np.argsort(-(quota - np.floor(quota)), kind="stable"):
      if rest == 0:
        break
      if open_[i] and shares[i] + add[i] < caps[i]:
        add[i] += 1
        rest -= 1
    shares += add
    left -= int(add.sum())
  return shares


def _nearest_member(members: np.ndarray, similarity: np.ndarray,
                    taken: set, count: int = 1) -> list[int]:
  """The `count` members most similar to their prototype, not yet taken."""
  order = members[np.argsort(-similarity[members], kind="stable")]
  return [int(i) for i in order if int(i) not in taken][:count]


def by_prototypes(assignments: Sequence[np.ndarray],
                  similarities: Sequence[np.ndarray],
                  parents: Sequence[np.ndarray], budget: int) -> Choice:
  """The `prototypes` rule on a hierarchy: per level l (finest first)
  each image's prototype `assignments[l]` and its cosine similarity to it
  `similarities[l]`; `parents[l]` maps level-l prototypes to level l+1."""
  assignments = [np.asarray(a, np.int64) for a in assignments]
  count = assignments[0].shape[0]
  if not 1 <= budget <= count:
    raise ConfigError(f"budget {budget} must be in [1, {count}].")
  sizes = [np.bincount(a) for a in assignments]
  filled = [int(np.count_nonzero(s)) for s in sizes]
  top = len(assignments) - 1
  rows, reasons, taken = [], [], set()

  # Each level's members by prototype, in index order, found once.
  order = [np.argsort(a, kind="stable") for a in assignments]
  starts = [np.concatenate([[0], np.cumsum(s)]) for s in sizes]

  def take(level: int, prototype: int, why: str, how_many: int = 1):
    members = order[level][starts[level][prototype]:
                           starts[level][prototype + 1]]
    for row in _nearest_member(members, similarities[level], taken,
                               how_many):
      taken.add(row)
      rows.append(row)
      reasons.append(why)

  if budget < filled[top]:
    largest = np.argsort(-sizes[top], kind="stable")[:budget]
    for p in largest:
      take(top, int(p), f"nearest to level-{top} prototype {p} (one of the "
           f"{budget} largest of {filled[top]})")
    return Choice(np.asarray(rows, np.int64), reasons)
  level = min(l for l in range(top + 1) if filled[l] <= budget)
  used = np.flatnonzero(sizes[level])
  for p in used:
    take(level, int(p), f"nearest to level-{level} prototype {p}")
  extra = budget - filled[level]
  if extra and level > 0:
    child_sizes = sizes[level - 1]
    children = {int(p): [] for p in used}
    for child in np.flatnonzero(child_sizes):
      children[int(parents[level - 1][child])].append(int(child))
    first = {int(assignments[level][r]): int(assignments[level - 1][r])
             for r in rows}
    caps = np.asarray([len(children[int(p)]) - 1 for p in used])
    shares = spread(sizes[level][used], extra, caps)
    for p, share in zip(used, shares):
      rest = [c for c in children[int(p)] if c != first[int(p)]]
      rest.sort(key=lambda c: (-child_sizes[c], c))
      for child in rest[:share]:
        take(level - 1, child, f"nearest to level-{level - 1} prototype "
             f"{child}, a child of level-{level} prototype {p}")
  elif extra:
    shares = spread(sizes[0][used], extra, sizes[0][used] - 1)
    for p, share in zip(used, shares):
      if share:
        take(0, int(p), f"central in level-0 prototype {p} (the budget "
             "exceeds the finest level)", int(share))
  return Choice(np.asarray(rows, np.int64), reasons)


def _typicality(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """1 / mean distance to the k nearest other points (TypiClust), against
  at most TYPICALITY_REFERENCE of them (a seeded sample)."""
  if points.shape[0] == 1:
    return np.ones(1)
  reference = points
  if points.shape[0] > TYPICALITY_REFERENCE:
    reference = points[np.sort(rng.choice(points.shape[0],
                                          TYPICALITY_REFERENCE,
                                          replace=False))]
  k = min(TYPICALITY_NEIGHBOURS, reference.shape[0] - 1)
  out = np.empty(points.shape[0])
  ref_norms = np.sum(reference ** 2, axis=1)
  for start in range(0, points.shape[0], 2048):
    block = points[start:start + 2048]
    d2 = (np.sum(block ** 2, axis=1)[:, None] + ref_norms[None, :]
          - 2 * block @ reference.T)
    d = np.sqrt(np.maximum(d2, 0.0))
    # the k+1 smallest include the point itself (distance ~0) when it is
    # in the reference set; dropping the smallest is TypiClust's "other".
    nearest = np.partition(d, k, axis=1)[:, :k + 1]
    nearest.sort(axis=1)
    out[start:start + 2048] = 1.0 / (nearest[:, 1:].mean(axis=1) + 1e-12)
  return out


def _kmeans(backend: str):
  """The k-means of clustering/: faiss on the host, or the JAX backend
  (accelerator hosts may lack faiss; a run's `kmeans.backend`)."""
  from hcsc_jax.clustering import hierarchical  # pylint: disable=g-import-not-at-top
  if backend not in hierarchical.BACKENDS:
    raise ConfigError(f"k-means backend {backend!r}; choose one of "
                      f"{list(hierarchical.BACKENDS)}.")
  if backend == "jax":
    from hcsc_jax.clustering import jax_backend  # pylint: disable=g-import-not-at-top
    return jax_backend.kmeans
  return hierarchical.kmeans


def typical(features: np.ndarray, budget: int, seed: int,
            backend: str = "faiss", labelled=None) -> Choice:
  """TypiClust (Hacohen et al., ICML 2022), any round: k-means of the
  L2-normalised features (`backend`, `seed`) into |labelled| + `budget`
  clusters; clusters of at most SMALL_CLUSTER images are left out while
  others remain; then, `budget` times, the cluster holding the fewest
  labelled images (ties: the largest) gives its most typical image not
  yet labelled. Without `labelled` (the first round) that is the most
  typical image of each of `budget` clusters, largest first. Unlike the
  released code, the cluster count is not capped at 500."""
  points = _unit(features)
  count = points.shape[0]
  taken = np.zeros(count, bool)
  if labelled is not None:
    taken[np.asarray(labelled, np.int64)] = True
  free = count - int(taken.sum())
  if not 1 <= budget <= free:
    raise ConfigError(f"budget {budget} must be in [1, {free}] (the images "
                      "not labelled yet).")
  if budget == count:
    return Choice(np.arange(count), ["every image (budget = set)"] * count)
  clusters = min(count, int(taken.sum()) + budget)
  from hcsc_jax.runtime import reporting  # pylint: disable=g-import-not-at-top
  reporting.log(f"typical: k-means of {count} features into {clusters} "
                f"clusters (seed {seed})")
  _, assigned, _ = _kmeans(backend)(points, clusters, seed,
                                    KMEANS_ITERATIONS, 1, 256, 1)
  sizes = np.bincount(assigned, minlength=clusters)
  held = np.bincount(assigned[taken], minlength=clusters)
  usable = sizes > SMALL_CLUSTER
  usable &= sizes > held
  if not usable.any():
    usable = sizes > held
  rng = np.random.default_rng(seed)
  ranked, depth = {}, {}
  rows, reasons = [], []
  while len(rows) < budget:
    open_ = np.flatnonzero(usable)
    if open_.size == 0:  # every usable cluster used up: the rest at large
      usable = sizes > held
      continue
    cluster = int(open_[np.lexsort((-sizes[open_], held[open_]))[0]])
    if cluster not in ranked:
      members = np.flatnonzero(assigned == cluster)
      score = _typicality(points[members], rng)
      ranked[cluster] = members[np.argsort(-score, kind="stable")]
      depth[cluster] = 0
    members = ranked[cluster]
    while depth[cluster] < members.size and taken[members[depth[cluster]]]:
      depth[cluster] += 1
    if depth[cluster] == members.size:
      usable[cluster] = False
      continue
    row = int(members[depth[cluster]])
    first = held[cluster] == 0
    rows.append(row)
    reasons.append(f"most typical of k-means cluster {cluster} "
                   f"({sizes[cluster]} images)" if first else
                   f"next most typical of k-means cluster {cluster} "
                   f"({held[cluster]} labelled)")
    taken[row] = True
    held[cluster] += 1
  return Choice(np.asarray(rows, np.int64), reasons)


def random_rows(count: int, budget: int, seed: int) -> Choice:
  rng = np.random.default_rng(seed)
  rows = rng.choice(count, budget, replace=False)
  return Choice(rows.astype(np.int64), ["drawn at random"] * budget)


def random_balanced(labels: np.ndarray, budget: int, seed: int) -> Choice:
  """The same count from every class (the first classes get one more when
  the budget does not divide), uniformly within each."""
  labels = np.asarray(labels)
  if labels.size == 0 or np.any(labels < 0):
    raise ConfigError("strategy 'random_balanced' needs every image's label "
                      "(it is the class-balanced yardstick); these images "
                      "have none: use 'prototypes', 'typical' or 'random'.")
  classes = np.unique(labels)
  rng = np.random.default_rng(seed)
  shares = spread(np.ones(classes.size), budget,
                  np.bincount(np.searchsorted(classes, labels)))
  rows = []
  for label, share in zip(classes, shares):
    members = np.flatnonzero(labels == label)
    rows.extend(rng.choice(members, share, replace=False).tolist())
  return Choice(np.asarray(rows, np.int64),
                ["drawn at random within its class"] * len(rows))


def hierarchy_of(features: np.ndarray, num_clusters: Sequence[int],
                 seed: int = 0, backend: str = "faiss"):
  """(assignments, similarities, parents) of a fresh hierarchical k-means
  of `features` (for encoders without HCSC's own hierarchy: raw pixels, a
  random network, MoCo v2), levels with more clusters than a tenth of
  the images dropped."""
  from hcsc_jax.clustering import hierarchical  # pylint: disable=g-import-not-at-top
  points = _unit(features)
  counts = [int(m) for m in num_clusters if int(m) <= points.shape[0] // 10]
  if not counts:
    raise ConfigError(f"num_clusters={tuple(num_clusters)} has no level of "
                      f"at most a tenth of the {points.shape[0]} images.")
  tree = hierarchical.hierarchical_kmeans(points, counts, nredo=1, seed=seed,
                                         backend=backend)
  return hierarchy_arrays(points, tree.centroids, tree.assignments,
                          tree.parents)


def hierarchy_arrays(points: np.ndarray, centroids, assignments, parents):
  """(assignments, similarities, parents) with each image's cosine
  similarity to its prototype at every level; `points` L2-normalised in
  the centroids' space."""
  assignments = [np.asarray(a, np.int64) for a in assignments]
  similarities = [np.einsum("nd,nd->n", points,
                            np.asarray(c, np.float32)[a])
                  for c, a in zip(centroids, assignments)]
  return assignments, similarities, [np.asarray(p, np.int64)
                                     for p in parents]


def choose(strategy: str, budget: int, seed: int = 0,
           features: np.ndarray | None = None,
           labels: np.ndarray | None = None, hierarchy=None,
           backend: str = "faiss", labelled=None) -> Choice:
  """The `budget` rows `strategy` picks. `typical` reads `features` (its
  k-means on `backend`), `prototypes` a hierarchy (assignments,
  similarities, parents), `random_balanced` the labels."""
  check_strategy(strategy)
  if strategy == "prototypes":
    if hierarchy is None:
      raise ValueError("strategy 'prototypes' needs a hierarchy.")
    return by_prototypes(*hierarchy, budget)
  if strategy == "typical":
    return typical(features, budget, seed, backend, labelled)
  if strategy == "random_balanced":
    return random_balanced(labels, budget, seed)
  count = (features.shape[0] if features is not None else len(labels))
  if not 1 <= budget <= count:
    raise ConfigError(f"budget {budget} must be in [1, {count}].")
  return random_rows(count, budget, seed)
