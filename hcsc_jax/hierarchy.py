r"""The hierarchy HCSC built of a run's training images, as files a user
keeps and browses:

  python -m hcsc_jax.hierarchy --workdir=<dir> --output=<dir> [--step=N]

For the latest (or --step) checkpoint, every training image is embedded by
the key encoder, in the space its hierarchy lives in, and written out:
assignments.csv (path, cluster id and similarity to its prototype at each
level, label when known), tree.json (every prototype with its parent, size
and members, most central first) and index.html with thumbs/ (an offline
browser: top-level clusters, a click down to children and member images, a
breadcrumb back up, a file-name search). Works for runs on the in-memory
device path (image folders, Fashion-MNIST).
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_string("output", None, "Folder for the files (created).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.mark_flags_as_required(["workdir", "output"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  cli.log_run_progress()
  from hcsc_jax.viz import hierarchy_export  # pylint: disable=g-import-not-at-top
  path = cli.report_errors(lambda: hierarchy_export.write_hierarchy(
      FLAGS.workdir, FLAGS.output, FLAGS.step))
  print(f"wrote {path} (open it in a browser), assignments.csv and "
        "tree.json beside it")


if __name__ == "__main__":
  app.run(main)
