r"""Pre-train HCSC: `python -m hcsc_jax.main --config=configs/<x>.py
--workdir=<dir> [--config.<field>=<value> ...]`.

Rerunning the same command resumes from the workdir's latest checkpoint.
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
config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, logs and summaries.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  cli.join_distributed_run()
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  sources.hide_accelerators_from_tensorflow(FLAGS.config.data)
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore  # pylint: disable=g-import-not-at-top
  cli.on_disk_full(FLAGS.workdir, lambda: restore.resume_advice(FLAGS.workdir))
  cli.log_run_progress()
  summary = cli.report_errors(
      lambda: train.train_and_evaluate(FLAGS.config, FLAGS.workdir), extra=(),
      exit_at_once=True)
  if summary.get("preempted"):
    cli.exit_after_preemption(summary["exit_status"])
  print(train.final_line(summary), flush=True)


if __name__ == "__main__":
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  cli.exit_on_unknown_overrides()
  from hcsc_jax.runtime import supervisor  # pylint: disable=g-import-not-at-top
  supervisor.supervise_if_distributed()
  app.run(main)
