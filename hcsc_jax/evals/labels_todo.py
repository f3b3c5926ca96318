"""The list a user labels from: the images a rule picks from a run's whole
collection (embedding/collection.py), in the order picked, with where each
sits in the hierarchy and why it was chosen, as `labels_todo.csv`; the
`label` column is left empty for the user to fill."""

from __future__ import annotations

import csv

import numpy as np

from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import label_budget


def choose(collection, strategy: str, budget, seed: int = 0
           ) -> label_budget.Choice:
  """`budget` (a count, '1%' or a fraction, as `--budget` takes it) images
  of `collection` picked by `strategy`."""
  label_budget.check_strategy(strategy)
  count = label_budget.parse_budget(budget, len(collection.paths))
  if strategy == "prototypes" and not collection.has_hierarchy:
    raise ConfigError("--strategy=prototypes needs the run's hierarchy, "
                      "and this checkpoint has none (a MoCo v2 run, or one "
                      "still in warm-up); use --strategy=typical.")
  if strategy == "typical" and collection.backbone is None:
    raise ValueError("strategy 'typical' reads backbone features; build the "
                     "collection with backbone=True.")
  return label_budget.choose(strategy, count, seed,
                             features=collection.backbone,
                             labels=collection.labels,
                             hierarchy=collection.hierarchy(),
                             backend=collection.kmeans_backend)


def rows(collection, choice: label_budget.Choice) -> list[dict]:
  """One dict per chosen image, in the order picked."""
  out = []
  names = collection.class_names
  for rank, (row, why) in enumerate(zip(choice.rows, choice.reasons), 1):
    row = int(row)
    known = int(collection.labels[row])
    record = {"rank": rank, "index": row, "path": collection.paths[row],
              "held_out": int(bool(collection.held_out[row]))}
    for level, assigned in enumerate(collection.assignments):
      record[f"level{level}_cluster"] = int(assigned[row])
    record.update({"reason": why,
                   "known_label": names[known] if known >= 0 and names
                   else "", "label": ""})
    out.append(record)
  return out


def columns(levels: int) -> list[str]:
  return (["rank", "index", "path", "held_out"]
          + [f"level{l}_cluster" for l in range(levels)]
          + ["reason", "known_label", "label"])


def write(records: list[dict], levels: int, path: str) -> None:
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=columns(levels))
    writer.writeheader()
    writer.writerows(records)


def marks(collection, choice: label_budget.Choice) -> np.ndarray:
  """[N] rank in the to-label list (1 = first), 0 for the rest."""
  out = np.zeros(len(collection.paths), np.int64)
  out[np.asarray(choice.rows, np.int64)] = np.arange(1, len(choice.rows) + 1)
  return out
