r"""Which images to label first: a label budget chosen from what a run
learned.

  python -m hcsc_jax.select --workdir=<run> --budget=<500 | 1% | 0.01> \
      --strategy=<prototypes | typical | random | random_balanced> \
      --output=<labels_todo.csv> [--input=<folder | list.txt>] [--seed=0] \
      [--step=N]

Without --input it chooses among every usable image of the run's
collection (an image folder's held-out images included, placed at their
nearest prototypes); with --input, among those image files (e.g. a folder
nobody has labelled), embedded by the run's encoder. The CSV lists the
chosen images in the order picked: rank, index, path, held_out, the
cluster at each hierarchy level, why it was chosen, the label the data
set already has (if any) and an empty `label` column to fill in.

Strategies (hcsc_jax/evals/label_budget.py): `prototypes` labels the image
nearest to each prototype of the hierarchy level that fits the budget (the
rest spread down the tree); `typical` the most typical image of each of N
k-means clusters of the backbone features (TypiClust); `random` N images
at random; `random_balanced` N/classes per class (needs labels: the
yardstick, not something a user can do). The same seed gives the same list.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_string("budget", None, "How many images to label: a count "
                    "(500), a percentage (1%) or a fraction (0.01).")
flags.DEFINE_string("strategy", "prototypes", "prototypes, typical, random "
                    "or random_balanced.")
flags.DEFINE_string("output", None, "The CSV to write (labels_todo.csv).")
flags.DEFINE_string("input", None, "Choose among these image files (a "
                    "folder, searched recursively, or a .txt list) instead "
                    "of the run's own images.")
flags.DEFINE_integer("seed", 0, "Seed of the typical and random rules.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.mark_flags_as_required(["workdir", "budget", "output"])


def _select() -> str:
  import os  # pylint: disable=g-import-not-at-top
  from hcsc_jax.embedding import collection as collection_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.embedding import files as files_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import label_budget  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import labels_todo  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import output_files  # pylint: disable=g-import-not-at-top
  label_budget.check_strategy(FLAGS.strategy)
  label_budget.parse_budget(FLAGS.budget, 10**15)  # its form, before embedding
  if not os.path.isdir(FLAGS.workdir):
    raise ConfigError(f"--workdir={FLAGS.workdir} does not exist; pass the "
                      "folder of a pre-training run.")
  backbone = FLAGS.strategy == "typical"
  skipped = []
  if FLAGS.input:
    paths = files_lib.input_paths(FLAGS.input)
    collection, skipped = collection_lib.files_collection(
        FLAGS.workdir, paths, FLAGS.step, backbone)
  else:
    collection = collection_lib.run_collection(
        FLAGS.workdir, FLAGS.step, backbone,
        require_hierarchy=FLAGS.strategy == "prototypes")
  choice = labels_todo.choose(collection, FLAGS.strategy, FLAGS.budget,
                              FLAGS.seed)
  records = labels_todo.rows(collection, choice)
  directory = os.path.dirname(os.path.abspath(FLAGS.output))
  os.makedirs(directory, exist_ok=True)
  with output_files.atomic_path(FLAGS.output) as tmp:
    labels_todo.write(records, len(collection.assignments), tmp)
  held = sum(r["held_out"] for r in records)
  lines = [f"wrote {FLAGS.output}: {len(records)} of {len(collection.paths)}"
           f" images to label first ({FLAGS.strategy}"
           + (f"; {held} of them held out of training" if held and
              not FLAGS.input else "") + ")"]
  if skipped:
    lines.append(f"skipped {len(skipped)} unusable file(s); first: "
                 f"{skipped[0][0]} ({skipped[0][1]})")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  cli.log_run_progress()
  print(cli.report_errors(_select))


if __name__ == "__main__":
  app.run(main)
