r"""Seeds study: every variant pre-trained with every seed, evaluated, and
summarised as mean +- std per variant and paired differences with 95%
intervals, so a comparison says whether it is separated from seed noise.

  python -m hcsc_jax.study --config=configs/fashion_mnist.py --seeds=3 \
      --variants=hcsc,mocov2 --workdir=workdirs/study \
      [--protocols=knn,knn@1%,knn@10%,linear@1%,linear@10%,linear] \
      [--baseline=mocov2] \
      [--nobaselines] [--config.<field>=<v>]

Runs live in <workdir>/<variant>/seed_<s>/ (ordinary pre-training workdirs);
rerunning the command resumes an interrupted run and skips finished runs
and evaluations. The table goes to stdout, <workdir>/study.md and
<workdir>/study.json. Variants: see `hcsc_jax.method.variants`.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

import os

from absl import app
from absl import flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Pre-training config file.",
                                lock_config=False)
flags.DEFINE_string("workdir", None, "Folder of the study's runs.")
flags.DEFINE_integer("seeds", 3, "Seeds per variant (0, 1, ...).")
flags.DEFINE_list("variants", ["hcsc", "mocov2"], "Variants to compare.")
flags.DEFINE_list("protocols", ["knn", "knn@1%", "knn@10%", "linear@1%",
                                "linear@10%", "linear"],
                  "Evaluations per run (default: the README's results "
                  "table, label-scarce included): knn, linear, clustering; "
                  "knn and "
                  "linear with a label fraction too, e.g. knn@1%,linear@10%, "
                  "and a rule that picks the labelled images instead of "
                  "class-balanced random draws: knn@1%:typical, "
                  "linear@0.1%:prototypes (evals/label_budget.py).")
flags.DEFINE_string("only", None, "<variant>:<seed>: run and evaluate that "
                    "run only, no table (launch/gpu_study.sh runs several "
                    "such processes on one GPU).")
flags.DEFINE_bool("baselines", True, "Add the random-init and raw-pixel "
                  "rows (evaluated once per study).")
flags.DEFINE_string("baseline", None, "Variant the others are compared "
                    "with (default: mocov2 if studied, else the first).")
flags.mark_flags_as_required(["config", "workdir"])

def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  sources.hide_accelerators_from_tensorflow(FLAGS.config.data)
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  from hcsc_jax.studies import runs as study_runs  # pylint: disable=g-import-not-at-top
  cli.log_run_progress()
  only = None
  if FLAGS.only:
    variant, _, seed = FLAGS.only.partition(":")
    if not seed.isdigit():
      raise app.UsageError(f"--only={FLAGS.only}: give <variant>:<seed>, "
                           "e.g. hcsc:1.")
    only = (variant, int(seed))
  try:
    table = cli.report_errors(lambda: study_runs.run_study(
        FLAGS.config, FLAGS.workdir, FLAGS.variants,
        list(range(FLAGS.seeds)), FLAGS.protocols, FLAGS.baseline,
        study_runs.eval_config, FLAGS.baselines, only))
  except study_runs.Stopped as stopped:
    word = "interrupted" if stopped.exit_status else "preempted"
    print(f"{word}: the study stopped with its current run checkpointed; "
          "rerun the same command to resume it.", flush=True)
    cli.exit_after_preemption(stopped.exit_status)
  print(table, flush=True)


if __name__ == "__main__":
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  cli.exit_on_unknown_overrides()
  from hcsc_jax.runtime import supervisor  # pylint: disable=g-import-not-at-top
  supervisor.supervise_if_distributed()
  app.run(main)
