"""Per-epoch statistics of a hierarchy, recorded by the trainer when it
clusters (`<workdir>/hierarchy_stats.jsonl`) and plotted over epochs.

Purity and NMI come from `evals.agreement` (NumPy, so the trainer needs no
scikit-learn).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.evals import agreement
from hcsc_jax.method import selection
from hcsc_jax.runtime import records
from hcsc_jax.runtime import reporting
from hcsc_jax.workdir import layout as workdir_layout

STATS_FILE = workdir_layout.HIERARCHY_STATS


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
      record["purity"] = agreement.purity(assignments, labels)
      record["nmi"] = agreement.nmi(assignments, labels)
    levels.append(record)
  return {"epoch": int(epoch), "levels": levels}


def append(workdir: str, record: dict) -> None:
  if jax.process_index() == 0:
    records.append(os.path.join(workdir, STATS_FILE), record)


def load(workdir: str) -> list[dict]:
  """Records in epoch order, the last one of each epoch (a resumed run may
  have clustered an epoch twice)."""
  by_epoch = {}
  for record in records.read(os.path.join(workdir, STATS_FILE),
                             reporting.warn):
    if "epoch" in record:
      by_epoch[record["epoch"]] = record
  return [by_epoch[e] for e in sorted(by_epoch)]
