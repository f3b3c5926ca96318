"""Every name in a workdir, in one place: what the trainer, the evaluations,
the tools and the study write there, so a reader (or a cleanup script) sees
the whole layout and no two modules spell a file differently.

```
<workdir>/
  config.json                 the run's config (rewritten on accepted resumes)
  config_history.jsonl        bookkeeping changes accepted on resume
  run_info.json               what restoring needs beyond the config
  summary.json                where the run stands and what it measured
  metrics.jsonl               scalars, one JSON line per record
  hierarchy_stats.jsonl       per-epoch statistics of the hierarchy
  .hcsc_lock                  held by the live run
  checkpoints/<step>/         orbax checkpoints (+ hcsc_manifest.json each)
  checkpoints_damaged/<step>/ checkpoints that failed verification
  before_reset_<step>/        a workdir set aside by a shape-changing restart
  embeddings/<what>_step<N>.npz|npy   embeddings by checkpoint N that the
                              tools reuse (embed's training features,
                              the collection of predict/select/hierarchy)
  eval/<protocol>.json        evaluation results
  eval/<protocol>/            a classifier protocol's own workdir, with
                              started.json (what it started from) and
                              subset_<name>.txt (its labelled subset)
```
A study workdir holds `<variant>/seed_<n>/` run workdirs plus `study.json`
and `study.md`.
"""

from __future__ import annotations

import os

from hcsc_jax.runtime import reporting

CONFIG = "config.json"
CONFIG_HISTORY = "config_history.jsonl"
RUN_INFO = "run_info.json"
SUMMARY = "summary.json"
METRICS = reporting.METRICS_FILE
HIERARCHY_STATS = "hierarchy_stats.jsonl"
LOCK = ".hcsc_lock"
CHECKPOINTS = "checkpoints"
DAMAGED_CHECKPOINTS = "checkpoints_damaged"
CHECKPOINT_MANIFEST = "hcsc_manifest.json"
RESET_PREFIX = "before_reset_"
EVAL = "eval"
EMBEDDINGS = "embeddings"
PROTOCOL_START = "started.json"
STUDY_RECORD = "study.json"
STUDY_TABLE = "study.md"

# What a shape-changing restart moves aside (the rest stays as history).
RUN_STATE = (CHECKPOINTS, CONFIG, RUN_INFO)
# Workdir files every checkpoint's manifest carries a copy of.
CARRIED_RECORDS = (CONFIG, RUN_INFO)


def path(workdir: str, name: str) -> str:
  return os.path.join(workdir, name)


def eval_result(workdir: str, protocol: str) -> str:
  """`<workdir>/eval/<protocol>.json`."""
  return os.path.join(workdir, EVAL, f"{protocol}.json")


def eval_workdir(workdir: str, protocol: str) -> str:
  """`<workdir>/eval/<protocol>/`: a classifier protocol's checkpoints."""
  return os.path.join(os.path.abspath(workdir), EVAL, protocol)


def protocol_subset(directory: str, name: str) -> str:
  return os.path.join(directory, f"subset_{name}.txt")


def study_run(workdir: str, variant: str, seed: int) -> str:
  return os.path.join(workdir, variant, f"seed_{seed}")


def embeddings_cache(workdir: str, step: int, what: str,
                     extension: str = "npz") -> str:
  """`<workdir>/embeddings/<what>_step<step>.<extension>`."""
  return os.path.join(workdir, EMBEDDINGS,
                      f"{what}_step{int(step)}.{extension}")
