r"""The hierarchy HCSC built of a run's training images, as files a user
keeps and browses:

  python -m hcsc_jax.hierarchy --workdir=<dir> --output=<dir> [--step=N] \
      [--budget=1%] [--strategy=auto] [--labels=<filled.csv> ...]

For the latest (or --step) checkpoint, every usable image of the run's
collection is embedded by the key encoder, in the space its hierarchy lives
in: the training images keep the clusters the last clustering gave them,
the images an image-folder run held out for evaluation go to their nearest
prototypes (marked held_out). Written out: assignments.csv (path, cluster
id and similarity to its prototype at each level, label when known,
held_out), tree.json (every prototype with its parent, size and members,
most central first), labels_todo.csv (the --budget images to label first,
picked by --strategy as `python -m hcsc_jax.select` picks them) and
index.html with thumbs/ (an offline browser: top-level clusters, a click
down to children and member images, a breadcrumb back up, a file-name
search, the images to label first marked and exportable). With --labels,
every image shows its human or predicted label (hcsc_jax.predict), the
page filters by class and by doubt, a label can be corrected on its card,
and "export labels.csv" writes every human label with the corrections for
predict to read again; the marked images are then the next batch. Works
for runs on the in-memory device path (image folders, Fashion-MNIST).
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

from hcsc_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_string("output", None, "Folder for the files (created).")
cli.define_checkpoint_flags()
flags.DEFINE_string("budget", "1%", "Images to mark to label first: a "
                    "count (500), a percentage (1%) or a fraction (0.01).")
flags.DEFINE_string("strategy", "auto", "Who picks them (see select; auto: "
                    "the measured best).")
flags.DEFINE_multi_string("labels", None, "The labels so far (CSVs with "
                          "`path` and `label`): the page shows human and "
                          "predicted labels, filters by class and doubt and "
                          "exports corrections; the marked images are the "
                          "next batch.")
flags.DEFINE_integer("seed", 0, "Seed of the typical and random rules.")
flags.mark_flags_as_required(["workdir", "output"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.log_run_progress()
  from hcsc_jax.viz import hierarchy_export  # pylint: disable=g-import-not-at-top
  path = cli.report_errors(lambda: hierarchy_export.write_hierarchy(
      FLAGS.workdir, FLAGS.output, cli.checkpoint_step(FLAGS.workdir),
      FLAGS.budget, FLAGS.strategy,
      FLAGS.seed, FLAGS.labels))
  print(f"wrote {path} (open it in a browser), assignments.csv, tree.json "
        "and labels_todo.csv" + (" and predictions.csv" if FLAGS.labels
                                 else "") + " beside it")


if __name__ == "__main__":
  app.run(main)
