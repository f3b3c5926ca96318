"""Per-epoch statistics of a hierarchy, recorded by the trainer when it
clusters (`<workdir>/hierarchy_stats.jsonl`) and plotted over epochs.

Purity and NMI are computed here with NumPy (tests check them against
scikit-learn) so the trainer needs nothing beyond what it already imports.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax import selection

STATS_FILE = "hierarchy_stats.jsonl"


def contingency(assignments: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """[clusters, classes] counts of the labelled rows."""
  keep = labels >= 0
  a, y = assignments[keep], labels[keep]
  table = np.zeros((int(a.max()) + 1, int(y.max()) + 1), np.int64)
  np.add.at(table, (a, y), 1)
  return table


def purity(assignments: np.ndarray, labels: np.ndarray) -> float:
  """Share of rows whose cluster's majority class is their class."""
  table = contingency(assignments, labels)
  return float(table.max(axis=1).sum() / max(table.sum(), 1))


def nmi(assignments: np.ndarray, labels: np.ndarray) -> float:
  """Normalised mutual information, arithmetic-mean normalisation (as
  scikit-learn's default)."""
  table = contingency(assignments, labels).astype(np.float64)
  total = table.sum()
  if total == 0:
    return 0.0
  joint = table / total
  pa, py = joint.sum(axis=1), joint.sum(axis=0)
  nz = joint > 0
  mutual = float(np.sum(joint[nz] * np.log(joint[nz] / np.outer(pa, py)[nz])))
  entropy = lambda p: float(-np.sum(p[p > 0] * np.log(p[p > 0])))
  ha, hy = entropy(pa), entropy(py)
  if ha == 0 and hy == 0:
    return 1.0
  return mutual / max((ha + hy) / 2, 1e-12)


def keep_ratio(queue, centroids, temperatures, labels) -> float:
  """Mean instance-selection keep-probability of the queue's rows as
  negatives of queries from clusters `labels`."""
  probs = selection.instance_selection_probs(
      jnp.asarray(queue), jnp.asarray(centroids), jnp.asarray(temperatures),
      jnp.asarray(labels))
  return float(jnp.mean(probs))


def epoch_record(epoch: int, hierarchy, queue, labels: np.ndarray,
                 seed: int = 0) -> dict:
  """Sizes, temperatures, keep ratio and (with labels) purity and NMI of
  every level of a ClusterHierarchy."""
  rng = np.random.default_rng(seed)
  sample = rng.choice(len(hierarchy.assignments[0]),
                      min(256, len(hierarchy.assignments[0])), replace=False)
  levels = []
  for level in range(hierarchy.num_levels):
    assignments = np.asarray(hierarchy.assignments[level])
    k = hierarchy.centroids[level].shape[0]
    record = {
        "num_clusters": int(k),
        "sizes": np.bincount(assignments, minlength=k).tolist(),
        "temperatures": np.asarray(hierarchy.temperatures[level],
                                   np.float64).round(6).tolist(),
        "keep_ratio": keep_ratio(queue, hierarchy.centroids[level],
                                 hierarchy.temperatures[level],
                                 assignments[sample]),
    }
    if labels is not None and np.any(labels >= 0):
      record["purity"] = purity(assignments, labels)
      record["nmi"] = nmi(assignments, labels)
    levels.append(record)
  return {"epoch": int(epoch), "levels": levels}


def append(workdir: str, record: dict) -> None:
  if jax.process_index() == 0:
    with open(os.path.join(workdir, STATS_FILE), "a") as f:
      f.write(json.dumps(record) + "\n")


def load(workdir: str) -> list[dict]:
  """Records in epoch order, the last one of each epoch (a resumed run may
  have clustered an epoch twice)."""
  path = os.path.join(workdir, STATS_FILE)
  if not os.path.exists(path):
    return []
  by_epoch = {}
  with open(path) as f:
    for line in f:
      if line.strip():
        record = json.loads(line)
        by_epoch[record["epoch"]] = record
  return [by_epoch[e] for e in sorted(by_epoch)]
