r"""Visual report of a pre-training workdir's hierarchy.

  python -m hcsc_jax.visualize --workdir=<dir> [--epoch=N] --output=<dir>

Writes chain_<i>.png (prototype chains, paper Fig. 3), selection.png
(instance selection, Fig. 4), embedding_map.png (t-SNE by top-level cluster
and class), hierarchy_over_epochs.png (sizes, temperatures, keep ratios,
purity/NMI per epoch) and report.html with every image inlined. `--epoch=N`
picks the checkpoint written after N epochs (default: the latest).
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

import os

from absl import app
from absl import flags

from hcsc_jax import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_string("output", None, "Folder for the PNGs and report.html.")
flags.DEFINE_integer("sample", 2000, "Training examples embedded and shown.")
cli.define_checkpoint_flags()
flags.mark_flags_as_required(["workdir", "output"])


def build_report(workdir: str, output: str, step=None, sample=2000) -> str:
  """Writes the report; returns the path of report.html."""
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import report  # pylint: disable=g-import-not-at-top
  state, position, config, model = workdirs.restore(workdir, step)
  sources.hide_accelerators_from_tensorflow(config.data)
  dataset = sources.open_dataset(config.data)
  images = report.all_figures(state, report.RunFacts.of(config), model,
                              dataset, sharding.make_mesh(), workdir,
                              report.Options(sample=sample))
  return report.write(images, output, f"HCSC hierarchy of {workdir}, "
                      f"checkpoint after epoch {position.epoch}")


def main(argv):
  del argv
  path = cli.report_errors(lambda: build_report(
      FLAGS.workdir, FLAGS.output, cli.checkpoint_step(FLAGS.workdir),
      FLAGS.sample))
  print(f"wrote {path}", flush=True)


if __name__ == "__main__":
  app.run(main)
