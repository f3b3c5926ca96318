"""Every image of a collection labelled: the user's labels where given,
the predictor's elsewhere, each with a confidence, its runner-up class and
margin, and a doubt score; the doubtful human labels and predictions as
lists to work through; what the labelled set alone estimates.

Doubt: for a predicted label, 1 - margin (the two most probable classes
close: the predictor hesitates); for a human label, 1 - the probability
the predictor gives it when that image's own label is held out (5-fold
cross-validation: a label the encoder finds improbable is a candidate
typo).
"""

from __future__ import annotations

import csv
import dataclasses


import numpy as np

from hcsc_jax.labelling import doubts
from hcsc_jax.labelling import labels_file
from hcsc_jax.labelling import neighbours
from hcsc_jax.labelling import predictors

# `auto`: of AUTO_CANDIDATES, the one with the higher cross-validated
# accuracy on the user's labels (label spreading wins with few labels,
# logistic regression with many: results/label_loop_study).
DEFAULT_PREDICTOR = "auto"
AUTO_CANDIDATES = ("spread", "logistic")
DOUBTFUL_PREDICTIONS = 500


@dataclasses.dataclass
class Predictions:
  class_names: list[str]
  label: np.ndarray          # [N] final class: human where given
  human: np.ndarray          # [N] bool
  predicted: np.ndarray      # [N] predictor's class (held out for humans)
  confidence: np.ndarray     # [N] its probability
  runner_up: np.ndarray      # [N]
  margin: np.ndarray         # [N]
  doubt: np.ndarray          # [N] in [0, 1]
  estimate: doubts.Estimate
  predictor: str
  probabilities: np.ndarray  # [N, C] the predictor's, from every label
  cv_accuracy: dict          # {predictor: cross-validated accuracy}

  @property
  def confident(self) -> np.ndarray:
    """[N] predicted rows at or above the 95%-precision threshold."""
    if self.estimate.threshold is None:
      return np.zeros_like(self.human)
    return ~self.human & (self.confidence >= self.estimate.threshold)


def make_predictor(name: str, features: np.ndarray, hierarchy=None):
  """(rows, labels, num_classes) -> [N, C] for predictor `name`; the
  spreading graph is built once."""
  if name not in predictors.PREDICTORS:
    from hcsc_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
    raise ConfigError(f"--predictor={name!r} is unknown; choose one of "
                      f"{['auto'] + list(predictors.PREDICTORS)}.")
  if name == "spread":
    return predictors.Spreader(neighbours.knn_graph(features,
                                                    predictors.GRAPH_K))
  if name == "knn":
    return lambda r, y, c: predictors.knn(features, r, y, c)
  if name == "logistic":
    return lambda r, y, c: predictors.logistic(features, r, y, c)
  if hierarchy is None:
    from hcsc_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
    raise ConfigError("--predictor=hierarchy needs the run's hierarchy; "
                      "this checkpoint has none.")
  assignments, _, parents = hierarchy
  return lambda r, y, c: predictors.hierarchy(assignments, parents, r, y, c)


def cross_validated(models: dict, rows: np.ndarray, labels: np.ndarray,
                    classes: int, seed: int = 0):
  """(the name of the model with the highest cross-validated accuracy,
  its out-of-sample probabilities, {name: accuracy}); ties to the first."""
  best, oos_best, accuracy = None, None, {}
  for name, model in models.items():
    oos = doubts.model_out_of_sample(model, rows, labels, classes, seed)
    accuracy[name] = float(np.mean(np.argmax(oos, axis=1) == labels))
    if best is None or accuracy[name] > accuracy[best]:
      best, oos_best = name, oos
  return best, oos_best, accuracy


def predict(features: np.ndarray, labels: labels_file.UserLabels,
            predictor: str = DEFAULT_PREDICTOR, hierarchy=None,
            seed: int = 0) -> Predictions:
  """Predictions for every row of `features` from the user's labels;
  `auto` picks by cross-validated accuracy (AUTO_CANDIDATES)."""
  count = features.shape[0]
  classes = len(labels.class_names)
  names = AUTO_CANDIDATES if predictor == "auto" else (predictor,)
  models = {n: make_predictor(n, features, hierarchy) for n in names}
  chosen, oos, accuracy = cross_validated(models, labels.rows, labels.labels,
                                          classes, seed)
  probabilities = models[chosen](labels.rows, labels.labels, classes)
  predicted, confidence, runner_up, margin = predictors.top_two(
      probabilities)
  oos_top = predictors.top_two(oos)
  predicted[labels.rows], confidence[labels.rows] = oos_top[0], oos_top[1]
  runner_up[labels.rows], margin[labels.rows] = oos_top[2], oos_top[3]
  human = np.zeros(count, bool)
  human[labels.rows] = True
  final = predicted.copy()
  final[labels.rows] = labels.labels
  doubt = 1.0 - margin
  doubt[labels.rows] = 1.0 - oos[np.arange(labels.rows.size), labels.labels]
  return Predictions(list(labels.class_names), final, human, predicted,
                     confidence, runner_up, margin, np.clip(doubt, 0, 1),
                     doubts.estimate(oos, labels.labels), chosen,
                     probabilities, accuracy)


def columns(levels: int) -> list[str]:
  return (["path", "label", "source", "predicted", "confidence",
           "runner_up", "margin", "doubt"]
          + [f"level{l}_cluster" for l in range(levels)] + ["held_out"])


def _row(p: Predictions, collection, i: int) -> dict:
  names = p.class_names
  record = {"path": collection.paths[i], "label": names[p.label[i]],
            "source": "human" if p.human[i] else "predicted",
            "predicted": names[p.predicted[i]],
            "confidence": f"{p.confidence[i]:.4f}",
            "runner_up": names[p.runner_up[i]],
            "margin": f"{p.margin[i]:.4f}", "doubt": f"{p.doubt[i]:.4f}"}
  for level, assigned in enumerate(collection.assignments):
    record[f"level{level}_cluster"] = int(assigned[i])
  record["held_out"] = int(bool(collection.held_out[i]))
  return record


def _write(path: str, fields: list[str], records) -> None:
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)


def write_predictions(p: Predictions, collection, path: str) -> None:
  """Every image: path, label (human or predicted), source, ..."""
  fields = columns(len(collection.assignments))
  _write(path, fields, (_row(p, collection, i)
                        for i in range(len(collection.paths))))


def doubtful_labels(p: Predictions) -> np.ndarray:
  """Human-labelled rows the encoder disagrees with, most doubtful first."""
  rows = np.flatnonzero(p.human & (p.predicted != p.label))
  return rows[np.argsort(-p.doubt[rows], kind="stable")]


def doubtful_predictions(p: Predictions, count: int = DOUBTFUL_PREDICTIONS
                         ) -> np.ndarray:
  """The `count` predicted rows with the smallest margins."""
  rows = np.flatnonzero(~p.human)
  return rows[np.argsort(-p.doubt[rows], kind="stable")][:count]


def write_doubtful_labels(p: Predictions, collection, path: str) -> None:
  """path, label (the human one: correct it here), suggested (what the
  encoder predicts without it), its confidence, doubt, clusters."""
  fields = (["path", "label", "suggested", "suggested_confidence", "doubt"]
            + [f"level{l}_cluster" for l in range(len(collection.assignments))])
  def record(i):
    row = _row(p, collection, i)
    return dict(row, suggested=row["predicted"],
                suggested_confidence=row["confidence"])
  _write(path, fields, (record(i) for i in doubtful_labels(p)))


def write_doubtful_predictions(p: Predictions, collection, path: str,
                               count: int = DOUBTFUL_PREDICTIONS) -> None:
  """The least certain predictions with an empty `label` to fill: the file
  goes back to predict as more labels."""
  fields = (["path", "label", "predicted", "confidence", "runner_up",
             "margin", "doubt"]
            + [f"level{l}_cluster" for l in range(len(collection.assignments))])
  def record(i):
    return dict(_row(p, collection, i), label="")
  _write(path, fields, (record(i) for i in doubtful_predictions(p, count)))


def summary(p: Predictions) -> dict:
  count = p.label.size
  human = int(p.human.sum())
  confident = int(p.confident.sum())
  per_class = {name: {"human": int(np.sum(p.human & (p.label == c))),
                      "predicted": int(np.sum(~p.human & (p.label == c)))}
               for c, name in enumerate(p.class_names)}
  return {"images": count, "human_labels": human,
          "predicted": count - human, "classes": len(p.class_names),
          "predictor": p.predictor,
          "cross_validated_accuracy": p.cv_accuracy,
          "estimated_accuracy": p.estimate.accuracy,
          "confidence_threshold_95": p.estimate.threshold,
          "no_threshold_because": p.estimate.reason or None,
          "confident_predictions": confident,
          "confident_share": confident / max(count - human, 1),
          "doubtful_labels": int(doubtful_labels(p).size),
          "per_class": per_class}


def summary_lines(record: dict) -> list[str]:
  others = ", ".join(f"{n} {a:.3f}" for n, a in
                     record["cross_validated_accuracy"].items())
  lines = [f"{record['human_labels']} human labels in {record['classes']} "
           f"classes; {record['predicted']} images predicted by "
           f"{record['predictor']} (cross-validated accuracy: {others})",
           f"estimated accuracy {record['estimated_accuracy']:.3f} (5-fold "
           "cross-validation on the human labels)"]
  if record["confidence_threshold_95"] is None:
    lines.append("no estimate of a 95%-precision threshold: "
                 f"{record['no_threshold_because']}")
  else:
    lines.append(
        f"{record['confident_predictions']} predictions "
        f"({record['confident_share']:.1%} of them) at confidence >= "
        f"{record['confidence_threshold_95']:.3f}: estimated >= 95% precise")
  width = max(len(n) for n in record["per_class"])
  for name, c in record["per_class"].items():
    lines.append(f"  {name:<{width}}  {c['human']:>6} human  "
                 f"{c['predicted']:>8} predicted")
  return lines
