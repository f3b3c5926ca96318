"""The next batch to label for a collection, first round or later: the
rules of next_batch.py on a collection (embedding/collection.py), with the
predictions from the labels so far when there are labels."""

from __future__ import annotations

from typing import Optional

import numpy as np

from hcsc_jax.evals import label_budget
from hcsc_jax.labelling import next_batch
from hcsc_jax.labelling import prediction

# The measured best (next_batch.py, README "Label a collection").
DEFAULT_RULE = "auto"


def choose(collection, strategy: str, budget, seed: int = 0,
           labels=None, predictor: str = prediction.DEFAULT_PREDICTOR,
           predictions: Optional[prediction.Predictions] = None):
  """(Choice of `budget` images not labelled yet, the Predictions from
  `labels` or None). `budget` as --budget takes it, counted against the
  images not labelled yet."""
  next_batch.check_rule(strategy)
  labelled = (np.zeros(0, np.int64) if labels is None
              else np.asarray(labels.rows, np.int64))
  free = len(collection.paths) - labelled.size
  count = label_budget.parse_budget(budget, free)
  if labels is not None and predictions is None:
    predictions = prediction.predict(
        collection.backbone, labels, predictor,
        collection.hierarchy() if collection.has_hierarchy else None, seed)
  probabilities = None
  if predictions is not None:
    probabilities = predictions.probabilities
  pool = next_batch.Pool(
      collection.backbone, collection.hierarchy()
      if collection.has_hierarchy else None, collection.kmeans_backend,
      collection.labels if (np.asarray(collection.labels) >= 0).all()
      else None)
  classes = None if labels is None else len(labels.class_names)
  return next_batch.choose(strategy, pool, labelled, count, seed,
                           probabilities, classes), predictions
