"""The runs of a seeds study (`python -m hcsc_jax.study`): pre-train each
variant with each seed, evaluate, tabulate. Finished runs and evaluations
are read back, not redone; an interrupted run resumes."""

from __future__ import annotations

import os
from typing import Callable, Sequence

from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import label_budget
from hcsc_jax.evals import protocols as protocols_lib
from hcsc_jax.studies import statistics as seed_statistics
from hcsc_jax.method import variants
from hcsc_jax.runtime import reporting
from hcsc_jax.training import train
from hcsc_jax.workdir import layout as workdir_layout
from hcsc_jax.workdir import restore as workdirs

METRICS = {"knn": ("knn_top1", "kNN top-1"), "linear": ("top1",
                                                        "linear top-1"),
           "clustering": ("nmi", "NMI")}
# Evaluated once per study (not per seed) under every protocol but
# clustering: what the encoders must beat.
BASELINES = {"random": "random init", "pixels": "raw pixels"}
# The eval configs (configs/eval/<protocol>_<name>.py) of each data set.
EVAL_CONFIG_NAMES = {"fashion_mnist_local": "fashion_mnist",
                     "imagenet2012": "imagenet",
                     "image_folder": "image_folder"}


def eval_config(protocol: str, run_config, seed: int):
  """The protocol's eval config for the run's data set, inheriting the
  run's data settings and kNN neighbour counts; `seed` also seeds the
  label draws, so both variants of a seed see the same subsets."""
  import importlib  # pylint: disable=g-import-not-at-top
  dataset = EVAL_CONFIG_NAMES.get(run_config.data.name)
  if dataset is None:
    raise ConfigError(f"no eval configs for data set "
                      f"{run_config.data.name!r}; known: "
                      f"{sorted(EVAL_CONFIG_NAMES)}.")
  module = importlib.import_module(f"hcsc_jax.configs.eval.{protocol}_{dataset}")
  cfg = module.get_config()
  cfg.data = run_config.data
  cfg.seed = seed
  cfg.knn.ks = tuple(run_config.knn.ks)  # the run's own kNN neighbour counts
  return cfg


def label_selection(spec: str) -> str:
  """'knn@1%:typical' -> 'typical': who picks the labelled images
  (evals/label_budget.py); '' for class-balanced random draws."""
  _, _, strategy = spec.partition(":")
  if strategy:
    if strategy not in label_budget.STRATEGIES:
      raise ConfigError(f"--protocols: {spec!r}: {strategy!r} is no label "
                        f"selection rule; choose from "
                        f"{list(label_budget.STRATEGIES)}.")
    if "@" not in spec:
      raise ConfigError(f"--protocols: {spec!r}: a selection rule picks a "
                        "label subset; give its size, e.g. knn@1%:typical.")
  return strategy


def parse_protocol(spec: str) -> tuple[str, float]:
  """'knn' -> ('knn', 0.0); 'linear@10%' -> ('linear', 0.1): the protocol
  and the fraction of train labels it uses (0: all); a ':<rule>' suffix
  (`label_selection`) is checked and left out. ConfigError naming the spec
  when it is not one."""
  label_selection(spec)
  name, _, fraction = spec.partition(":")[0].partition("@")
  if name not in METRICS:
    raise ConfigError(f"--protocols: {spec!r} is unknown; choose from "
                      f"{sorted(METRICS)}, optionally with a label fraction "
                      "such as knn@1% or linear@10%.")
  if not fraction:
    return name, 0.0
  try:
    value = float(fraction.removesuffix("%")) / 100
  except ValueError:
    value = -1.0
  if not fraction.endswith("%") or not 0 < value <= 1:
    raise ConfigError(f"--protocols: {spec!r}: the label fraction must be "
                      "a percentage in (0, 100], e.g. knn@1%.")
  if name == "clustering":
    raise ConfigError(f"--protocols: {spec!r}: clustering uses no labels "
                      "to train, so it takes no label fraction.")
  return name, value


def metric_label(spec: str) -> str:
  name, fraction = parse_protocol(spec)
  label = METRICS[name][1]
  strategy = label_selection(spec)
  return (label if not fraction else f"{label} @{fraction * 100:g}%"
          + (f" {strategy}" if strategy else ""))


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


def _protocol_config(spec: str, config, seed: int, eval_config: Callable,
                     encoder: str):
  name, fraction = parse_protocol(spec)
  cfg = eval_config(name, config, seed)
  cfg.label_fraction = fraction
  cfg.label_selection = label_selection(spec)
  cfg.encoder = encoder
  return cfg


def evaluation_path(spec: str, config, directory: str, seed: int,
                    eval_config: Callable, encoder: str = "checkpoint"
                    ) -> str:
  """Where the result of protocol `spec` on the run in `directory` is
  (or will be) saved."""
  cfg = _protocol_config(spec, config, seed, eval_config, encoder)
  return workdir_layout.eval_result(directory,
                                    protocols_lib.result_name(cfg))


def _evaluation(spec: str, config, directory: str, seed: int,
                eval_config: Callable, encoder: str = "checkpoint") -> dict:
  """The result of protocol `spec` on the run in `directory` (read back
  when it exists); `encoder` 'random' or 'pixels' for the baselines."""
  cfg = _protocol_config(spec, config, seed, eval_config, encoder)
  key = METRICS[parse_protocol(spec)[0]][0]
  path = workdir_layout.eval_result(directory,
                                    protocols_lib.result_name(cfg))
  saved = reporting.read_json_or_set_aside(path)
  if key in saved:
    return saved
  result = protocols_lib.evaluate(cfg, directory)
  if result.get("preempted"):
    raise Stopped(result["exit_status"])
  return result


def _evaluate(spec: str, config, directory: str, summary: dict, seed: int,
              eval_config: Callable) -> float:
  key = METRICS[parse_protocol(spec)[0]][0]
  if spec == "knn" and key in summary:  # the same protocol, run at the end
    return float(summary[key])
  return float(_evaluation(spec, config, directory, seed, eval_config)[key])


def _baselines(config, directory: str, protocols: Sequence[str],
               eval_config: Callable) -> dict:
  """{kind: {protocol: {"mean", "std"}}} for the random-init and raw-pixel
  encoders (seed 0), evaluated in `directory`'s run (for its data); std
  is over label draws (0 with all labels)."""
  out = {}
  for kind in BASELINES:
    out[kind] = {}
    for spec in protocols:
      name, _ = parse_protocol(spec)
      if name == "clustering":
        continue
      key = METRICS[name][0]
      reporting.log(f"study: {BASELINES[kind]} baseline, {spec}")
      result = _evaluation(spec, config, directory, 0, eval_config, kind)
      out[kind][spec] = {"mean": float(result[key]),
                         "std": float(result.get(f"{key}_std", 0.0))}
  return out


def _pixels_by_seed(base_config, workdir: str, variant: str,
                    seeds: Sequence[int], protocols: Sequence[str],
                    eval_config: Callable) -> dict:
  """{protocol: [raw-pixel value per seed]}: the pixels evaluated with each
  seed's label draws and selection rule (in that seed's run of `variant`,
  for its data), so encoder - pixels can be paired by seed."""
  out = {p: [] for p in protocols if parse_protocol(p)[0] != "clustering"}
  for seed in seeds:
    config = variants.apply(variant,
                            base_config.copy_and_resolve_references())
    config.seed = seed
    directory = workdir_layout.study_run(workdir, variant, seed)
    for spec in out:
      reporting.log(f"study: raw pixels with seed {seed}'s labels, {spec}")
      key = METRICS[parse_protocol(spec)[0]][0]
      out[spec].append(float(_evaluation(spec, config, directory, seed,
                                         eval_config, "pixels")[key]))
  return out


def run_study(base_config, workdir: str, variant_names: Sequence[str],
              seeds: Sequence[int], protocols: Sequence[str],
              baseline: str | None, eval_config: Callable,
              with_baselines: bool = True,
              only: tuple[str, int] | None = None) -> str:
  """Runs what is missing; returns the markdown table (raises Stopped when
  a run or evaluation was stopped: a rerun resumes it). With
  `with_baselines`, the random-init and raw-pixel rows are evaluated once,
  in the first variant's seed-0 run. `only=(variant, seed)` runs and
  evaluates that one run and tabulates nothing (several such processes can
  share an accelerator; a last plain call makes the table).

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
  for spec in protocols:
    parse_protocol(spec)
  values = {v: {p: [] for p in protocols} for v in variant_names}
  first_run = None
  if only is not None and (only[0] not in variant_names
                           or only[1] not in seeds):
    raise ConfigError(f"--only={only[0]}:{only[1]} is not among --variants="
                      f"{list(variant_names)} and seeds {list(seeds)}.")
  for seed in seeds:  # seed-major: an interrupted study has whole pairs
    for variant in variant_names:
      if only is not None and (variant, seed) != tuple(only):
        continue
      config = variants.apply(variant, base_config.copy_and_resolve_references())
      config.seed = seed
      directory = workdir_layout.study_run(workdir, variant, seed)
      reporting.log(f"study: {variant} seed {seed} in {directory}")
      summary = _pretrain(config, directory)
      first_run = first_run or (config, directory)
      for protocol in protocols:
        value = _evaluate(protocol, config, directory, summary, seed,
                          eval_config)
        values[variant][protocol].append(value)
  if only is not None:
    return (f"study run {only[0]} seed {only[1]} done: "
            + ", ".join(f"{p} {values[only[0]][p][0]:.4f}" for p in protocols))
  record = tabulate(values, list(seeds), list(protocols), baseline)
  if with_baselines and first_run is not None:
    record["baselines"] = _baselines(*first_run, protocols, eval_config)
    if any(label_selection(p) for p in protocols):
      pixels = _pixels_by_seed(base_config, workdir, variant_names[0], seeds,
                               protocols, eval_config)
      record["pixels_by_seed"] = pixels
      record["minus_pixels"] = {
          variant: {p: seed_statistics.paired_difference(
              values[variant][p], pixels[p]) for p in pixels}
          for variant in variant_names}
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
  labels = [metric_label(p) for p in protocols]
  lines = [f"Seeds {seeds}; mean ± sample std over seeds.", "",
           "| variant | what | " + " | ".join(labels) + " |",
           "|---|---|" + "---|" * len(protocols)]
  for variant, by_protocol in record["summary"].items():
    cells = [f"{s['mean']:.4f} ± {s['std']:.4f}"
             for s in (by_protocol[p] for p in protocols)]
    lines.append(f"| {variant} | {variants.VARIANTS[variant][0]} | "
                 + " | ".join(cells) + " |")
  for kind, by_protocol in record.get("baselines", {}).items():
    cells = []
    for p in protocols:
      value = by_protocol.get(p)
      cells.append("—" if value is None else
                   f"{value['mean']:.4f}" + (f" ± {value['std']:.4f}"
                                             if value["std"] else ""))
    lines.append(f"| {BASELINES[kind]} | baseline, evaluated once (seed 0)"
                 " | " + " | ".join(cells) + " |")
  if any(parse_protocol(p)[1] for p in protocols):
    lines += ["", "With a label fraction (@x%) each value is the mean over "
              "class-balanced label draws (5 by default); the variants' ± "
              "is over seeds, the baselines' over label draws."]
  if any(label_selection(p) for p in protocols):
    lines += ["", "With a selection rule after the fraction (e.g. @1% "
              "typical) the labelled images are those the rule picks from "
              "the evaluated features without their labels, as many as a "
              "balanced draw holds (evals/label_budget.py; `prototypes` is "
              "one subset, `typical` and `random` one per draw seed); the "
              "baselines are helped by the same rule on their own "
              "features."]
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
  if record.get("minus_pixels"):
    lines += ["", "Encoder − raw pixels, paired by seed (the pixels "
              "evaluated with each seed's label draws and selection rule), "
              "Student-t 95% interval:", "",
              "| difference | metric | mean | 95% interval | separated from "
              "seed noise? |", "|---|---|---|---|---|"]
    for variant, by_protocol in record["minus_pixels"].items():
      for protocol, label in zip(protocols, labels):
        if protocol not in by_protocol:
          continue
        d = by_protocol[protocol]
        interval = (f"[{d['low']:+.4f}, {d['high']:+.4f}]"
                    if d["n"] > 1 else "n/a (one seed)")
        lines.append(f"| {variant} − raw pixels | {label} | "
                     f"{d['mean']:+.4f} | {interval} | "
                     f"{'yes' if d['separated'] else 'no'} |")
  lines += ["", "Per seed:", "",
            "| variant | " + " | ".join(f"seed {s}" for s in seeds) + " |",
            "|---|" + "---|" * len(seeds)]
  for variant, by_protocol in record["values"].items():
    cells = [" / ".join(f"{by_protocol[p][i]:.4f}" for p in protocols)
             for i in range(len(seeds))]
    lines.append(f"| {variant} ({' / '.join(labels)}) | "
                 + " | ".join(cells) + " |")
  pixels = record.get("pixels_by_seed")
  if pixels:
    shown = [p for p in protocols if p in pixels]
    cells = [" / ".join(f"{pixels[p][i]:.4f}" for p in shown)
             for i in range(len(seeds))]
    lines.append(f"| raw pixels ({' / '.join(metric_label(p) for p in shown)})"
                 " | " + " | ".join(cells) + " |")
  return "\n".join(lines)
