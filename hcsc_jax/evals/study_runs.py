"""The runs of a seeds study (`python -m hcsc_jax.study`): pre-train each
variant with each seed, evaluate, tabulate. Finished runs and evaluations
are read back, not redone; an interrupted run resumes."""

from __future__ import annotations

import os
from typing import Callable, Sequence

from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import protocols as protocols_lib
from hcsc_jax.evals import seed_statistics
from hcsc_jax.method import variants
from hcsc_jax.runtime import reporting
from hcsc_jax.training import train
from hcsc_jax.training import workdir_layout
from hcsc_jax.training import workdirs

METRICS = {"knn": ("knn_top1", "kNN top-1"), "linear": ("top1",
                                                        "linear top-1"),
           "clustering": ("nmi", "NMI")}


class Stopped(Exception):
  """A run or evaluation of the study stopped on SIGTERM or Ctrl-C after
  writing its checkpoint; `exit_status` is the command's (0 or 130)."""

  def __init__(self, exit_status: int):
    super().__init__(exit_status)
    self.exit_status = exit_status


def _pretrain(config, directory: str) -> dict:
  """The run's summary (training it first unless it finished before);
  raises Stopped when the run was stopped."""
  path = workdir_layout.path(directory, workdir_layout.SUMMARY)
  if os.path.exists(path):
    changed = workdirs.recipe_changes(workdirs.load_config(directory),
                                      config)
    if changed:
      raise ConfigError(
          f"{directory} holds a run with another config "
          f"({'; '.join(changed)}); use another --workdir for the changed "
          "study.")
    summary = reporting.read_json_or_set_aside(path)
    if summary and summary.get("finished", True):
      return summary
  summary = train.train_and_evaluate(config, directory)
  if summary.get("preempted"):
    raise Stopped(summary["exit_status"])
  return summary


def _evaluate(protocol: str, config, directory: str, summary: dict,
              seed: int, eval_config: Callable) -> float:
  key = METRICS[protocol][0]
  if protocol == "knn" and key in summary:  # the same protocol, run at the end
    return float(summary[key])
  cfg = eval_config(protocol, config, seed)
  path = workdir_layout.eval_result(directory, cfg.name)
  saved = reporting.read_json_or_set_aside(path)
  if key in saved:
    return float(saved[key])
  result = protocols_lib.evaluate(cfg, directory)
  if result.get("preempted"):
    raise Stopped(result["exit_status"])
  return float(result[key])


def run_study(base_config, workdir: str, variant_names: Sequence[str],
              seeds: Sequence[int], protocols: Sequence[str],
              baseline: str | None, eval_config: Callable) -> str | None:
  """Runs what is missing; returns the markdown table (raises Stopped when
  a run or evaluation was stopped: a rerun resumes it).

  `eval_config(protocol, run_config, seed)` gives a protocol's eval config.
  """
  for name in variant_names:
    if name not in variants.VARIANTS:
      raise ConfigError(f"--variants: {name!r} is unknown; choose from "
                        f"{sorted(variants.VARIANTS)}.")
  if baseline is None:
    baseline = "mocov2" if "mocov2" in variant_names else variant_names[0]
  if baseline not in variant_names:
    raise ConfigError(f"--baseline={baseline!r} is not among --variants="
                      f"{list(variant_names)}.")
  values = {v: {p: [] for p in protocols} for v in variant_names}
  for seed in seeds:  # seed-major: an interrupted study has whole pairs
    for variant in variant_names:
      config = variants.apply(variant, base_config.copy_and_resolve_references())
      config.seed = seed
      directory = workdir_layout.study_run(workdir, variant, seed)
      reporting.log(f"study: {variant} seed {seed} in {directory}")
      summary = _pretrain(config, directory)
      for protocol in protocols:
        value = _evaluate(protocol, config, directory, summary, seed,
                          eval_config)
        values[variant][protocol].append(value)
  record = tabulate(values, list(seeds), list(protocols), baseline)
  reporting.save_json(
      workdir_layout.path(workdir, workdir_layout.STUDY_RECORD), record)
  table = markdown(record)
  if reporting.is_lead_process():
    with open(workdir_layout.path(workdir, workdir_layout.STUDY_TABLE),
              "w") as f:
      f.write(table + "\n")
  return table


def tabulate(values: dict, seeds: list[int], protocols: list[str],
             baseline: str) -> dict:
  """Per-variant summaries and paired differences against `baseline`."""
  record = {"seeds": seeds, "protocols": protocols, "baseline": baseline,
            "values": values, "summary": {}, "differences": {}}
  for variant, by_protocol in values.items():
    record["summary"][variant] = {
        p: seed_statistics.summary(v) for p, v in by_protocol.items()}
    if variant != baseline:
      record["differences"][variant] = {
          p: seed_statistics.paired_difference(v, values[baseline][p])
          for p, v in by_protocol.items()}
  return record


def markdown(record: dict) -> str:
  protocols, seeds = record["protocols"], record["seeds"]
  labels = [METRICS[p][1] for p in protocols]
  lines = [f"Seeds {seeds}; mean ± sample std over seeds.", "",
           "| variant | what | " + " | ".join(labels) + " |",
           "|---|---|" + "---|" * len(protocols)]
  for variant, by_protocol in record["summary"].items():
    cells = [f"{s['mean']:.4f} ± {s['std']:.4f}"
             for s in (by_protocol[p] for p in protocols)]
    lines.append(f"| {variant} | {variants.VARIANTS[variant][0]} | "
                 + " | ".join(cells) + " |")
  baseline = record["baseline"]
  if record["differences"]:
    lines += ["", f"Paired differences (same seeds) against {baseline}, "
              "Student-t 95% interval:", "",
              "| difference | metric | mean | 95% interval | separated from "
              "seed noise? |", "|---|---|---|---|---|"]
    for variant, by_protocol in record["differences"].items():
      for protocol, label in zip(protocols, labels):
        d = by_protocol[protocol]
        interval = (f"[{d['low']:+.4f}, {d['high']:+.4f}]"
                    if d["n"] > 1 else "n/a (one seed)")
        verdict = "yes" if d["separated"] else "no"
        lines.append(f"| {variant} − {baseline} | {label} | {d['mean']:+.4f}"
                     f" | {interval} | {verdict} |")
  lines += ["", "Per seed:", "",
            "| variant | " + " | ".join(f"seed {s}" for s in seeds) + " |",
            "|---|" + "---|" * len(seeds)]
  for variant, by_protocol in record["values"].items():
    cells = [" / ".join(f"{by_protocol[p][i]:.4f}" for p in protocols)
             for i in range(len(seeds))]
    lines.append(f"| {variant} ({' / '.join(labels)}) | "
                 + " | ".join(cells) + " |")
  return "\n".join(lines)
