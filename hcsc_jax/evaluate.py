r"""Evaluate a pre-trained encoder (docs/method.md §7): kNN, linear probe,
semi-supervised fine-tuning, clustering NMI/AMI.

  python -m hcsc_jax.evaluate --config=configs/eval/<name>.py \
      --workdir=<pre-training workdir> [--config.<field>=<value> ...]

The encoder is the workdir's latest orbax checkpoint (`--step=N` or
`--epoch=E` for another; the old `--config.step=N` still works), a PyTorch reference-format file (`--config.checkpoint=x.pth.tar`,
results still go under --workdir) or a random initialisation of the
workdir's architecture (`--config.encoder=random`, results named
`<name>_random`). The result is printed as one JSON line and written to
`<workdir>/eval/<name>.json`; TensorBoard logs and the classifier
checkpoints (rerun the same command to resume) live in `<workdir>/eval/<name>/`.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

import json
import os

from absl import app
from absl import flags
from ml_collections import config_flags

from hcsc_jax import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Evaluation config file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Pre-training workdir (results go to "
                    "<workdir>/eval/).")
cli.define_checkpoint_flags()
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.join_distributed_run()
  from hcsc_jax.evals import protocols  # pylint: disable=g-import-not-at-top
  cli.log_run_progress()

  def evaluate():
    step = cli.checkpoint_step(FLAGS.workdir)
    if step is not None:
      FLAGS.config.step = step
    return protocols.evaluate(FLAGS.config, FLAGS.workdir)
  result = cli.report_errors(evaluate)
  if result.get("preempted"):  # the classifier wrote its checkpoint
    cli.exit_after_preemption(result["exit_status"])
  print(json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
  cli.exit_on_unknown_overrides()
  cli.warn_deprecated_spellings()
  from hcsc_jax.runtime import supervisor  # pylint: disable=g-import-not-at-top
  supervisor.supervise_if_distributed()
  app.run(main)
