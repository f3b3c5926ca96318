"""The label-loop study's tables (study.md) from its records: mean ± std
over seeds per rule and number of labels, and paired differences by seed
with their Student-t 95% intervals (studies/statistics.py)."""

from __future__ import annotations

import math

import numpy as np

from hcsc_jax.studies import statistics

SHOWN = (10, 20, 50, 100, 200, 500, 1000)
RULE_NAMES = {
    "auto": "auto (the default)",
    "hierarchy": "hierarchy (ours)", "kmeans": "k-means tree (ablation)",
    "typical": "TypiClust", "probcover": "ProbCover", "margin": "margin",
    "prototypes": "prototypes", "random": "random",
    "random_balanced": "random, class-balanced (oracle)"}
ORDER = tuple(RULE_NAMES)


def _value(round_record: dict, metric: str) -> float:
  node = round_record
  for part in metric.split("."):
    if not isinstance(node, dict) or part not in node:
      return math.nan
    node = node[part]
  return float(node)


def series(records: dict, rule: str, metric: str, labels: int
           ) -> list[float]:
  """The metric at `labels` labels for each seed of `rule`, seed order."""
  out = []
  for seed in sorted(records.get(rule, {})):
    rounds = {r["labelled"]: r for r in records[rule][seed]["rounds"]}
    out.append(_value(rounds[labels], metric) if labels in rounds
               else math.nan)
  return out


def _cell(values: list[float], digits: int = 3) -> str:
  x = np.asarray(values, np.float64)
  x = x[~np.isnan(x)]
  if x.size == 0:
    return "–"
  s = statistics.summary(x)
  return (f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}" if x.size > 1
          else f"{s['mean']:.{digits}f}")


def _rules(records: dict) -> list[str]:
  return [r for r in ORDER if r in records] + sorted(
      r for r in records if r not in ORDER)


def metric_table(records: dict, metric: str, title: str,
                 shown=SHOWN, digits: int = 3) -> list[str]:
  shown = [n for n in shown if any(
      not math.isnan(v) for r in records for v in series(records, r, metric,
                                                          n))]
  lines = [f"### {title}", "",
           "| rule | " + " | ".join(f"{n} labels" for n in shown) + " |",
           "|---|" + "---|" * len(shown)]
  for rule in _rules(records):
    lines.append(f"| {RULE_NAMES.get(rule, rule)} | " + " | ".join(
        _cell(series(records, rule, metric, n), digits) for n in shown)
                 + " |")
  return lines + [""]


def difference(records: dict, rule: str, other: str, metric: str,
               labels: int) -> dict:
  a, b = series(records, rule, metric, labels), series(records, other,
                                                       metric, labels)
  n = min(len(a), len(b))
  return statistics.paired_difference(a[:n], b[:n])


def _diff_cell(d: dict) -> str:
  if d["n"] < 2:
    return f"{d['mean']:+.3f}"
  tag = "**separated**" if d["separated"] else "not separated"
  return f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] {tag}"


def difference_table(records: dict, rule: str, metric: str, title: str,
                     shown=SHOWN) -> list[str]:
  if rule not in records:
    return []
  lines = [f"### {title}", "",
           "| against | " + " | ".join(f"{n} labels" for n in shown) + " |",
           "|---|" + "---|" * len(shown)]
  for other in _rules(records):
    if other == rule:
      continue
    lines.append(f"| {RULE_NAMES.get(other, other)} | " + " | ".join(
        _diff_cell(difference(records, rule, other, metric, n))
        for n in shown) + " |")
  return lines + [""]


def markdown(records: dict) -> str:
  seeds = sorted({s for r in records.values() for s in r})
  main = next(iter(next(iter(records.values())).values()))["main_predictor"]
  lines = ["# Label-loop study", "",
           f"Seeds {seeds}; mean ± std over seeds. Predicted labels by "
           f"`{main}` unless a table says otherwise.", ""]
  lines += metric_table(records, f"{main}.pool_accuracy",
                        "Accuracy of the predicted labels on the images "
                        "not labelled")
  lines += metric_table(records, "test_knn", "Test accuracy, kNN (k = 10)")
  lines += metric_table(records, "test_logistic", "Test accuracy, logistic")
  lines += metric_table(records, f"{main}.coverage95",
                        "Share of the unlabelled images labelled at >= 95% "
                        "precision (most confident first)")
  lines += metric_table(records, "classes_covered", "Classes covered",
                        digits=1)
  lines += metric_table(records, f"{main}.auroc_margin",
                        "AUROC of the doubt (1 - margin) for wrong "
                        "predictions")
  lines += metric_table(records, "estimated_accuracy",
                        "Accuracy estimated from the labels alone (5-fold "
                        "cross-validation)")
  lines += metric_table(records, "estimated_coverage",
                        "Share predicted above the estimated 95%-precision "
                        "confidence")
  lines += metric_table(records, "estimated_coverage_precision",
                        "... and the real precision of that share")
  lines += metric_table(records, "typo_precision",
                        "Flipped labels (5%) found: precision of the top of "
                        "the suspect list at k = the number flipped")
  for name in ("knn", "logistic", "hierarchy"):
    lines += metric_table(records, f"{name}.pool_accuracy",
                          f"Pool accuracy with the `{name}` predictor")
  for rule in ("hierarchy", "typical"):
    lines += difference_table(records, rule, f"{main}.pool_accuracy",
                              f"`{rule}` minus each rule, pool accuracy "
                              "(paired by seed, 95% interval)")
  return "\n".join(lines)


README_LABELS = (10, 100, 1000)


def summary_table(records: dict) -> list[str]:
  """The README's rounds table: each rule's accuracy of the predicted
  labels on the images not labelled (the default `auto` predictor) at
  10, 100 and 1,000 labels, and the share of them labelled at >= 95%
  precision with 1,000 labels; mean ± std over seeds."""
  main = next(iter(next(iter(records.values())).values()))["main_predictor"]
  lines = ["| rule | " + " | ".join(f"{n} labels" for n in README_LABELS)
           + " | at >= 95% precision, 1000 labels |",
           "|---|" + "---|" * (len(README_LABELS) + 1)]
  for rule in _rules(records):
    cells = [_cell(series(records, rule, f"{main}.pool_accuracy", n))
             for n in README_LABELS]
    cells.append(_cell(series(records, rule, f"{main}.coverage95", 1000)))
    lines.append(f"| {RULE_NAMES.get(rule, rule)} | " + " | ".join(cells)
                 + " |")
  return lines
