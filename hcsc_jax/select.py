r"""Which images to label next: a label budget chosen from what a run
learned, for the first batch or, with --labels, the next one.

  python -m hcsc_jax.select --workdir=<run> --budget=<500 | 1% | 0.01> \
      --output=<labels_todo.csv> [--labels=<filled.csv> ...] \
      [--strategy=auto] [--input=<folder | list.txt>] [--seed=0] \
      [--step=N]

Without --input it chooses among every usable image of the run's
collection (an image folder's held-out images included, placed at their
nearest prototypes); with --input, among those image files (e.g. a folder
nobody has labelled), embedded by the run's encoder. The CSV lists the
chosen images in the order picked: rank, index, path, held_out, the
cluster at each hierarchy level, why it was chosen, the label the data
set already has (if any) and an empty `label` column to fill in.

With --labels (the CSVs filled so far) the images already labelled are
never chosen again, and the rules that look at predictions see the ones
those labels give. Strategies (hcsc_jax/labelling/next_batch.py): `typical`
(TypiClust: the most typical image of the k-means clusters of the backbone
features holding the fewest labels), `hierarchy` (a cut of HCSC's prototype
tree where it is large and impure), `auto` (the default: `typical` up to
300 labels, `margin` beyond), `probcover` (ProbCover's greedy
coverage), `margin` (the least certain predictions; needs --labels),
`prototypes` (the image nearest to each prototype of the level that fits),
`random`, `random_balanced` (needs the data set's labels: a yardstick).
The same seed gives the same list.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

from hcsc_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_string("budget", None, "How many images to label: a count "
                    "(500), a percentage (1%) or a fraction (0.01).")
flags.DEFINE_string("strategy", "auto", "auto (typical, then margin from "
                    "300 labels: the measured best), typical, hierarchy, "
                    "probcover, margin, prototypes, random or "
                    "random_balanced.")
flags.DEFINE_multi_string("labels", None, "The labels so far (CSVs with "
                          "`path` and `label`; repeat for more files): choose "
                          "the next batch.")
flags.DEFINE_string("output", None, "The CSV to write (labels_todo.csv).")
flags.DEFINE_string("input", None, "Choose among these image files (a "
                    "folder, searched recursively, or a .txt list) instead "
                    "of the run's own images.")
flags.DEFINE_integer("seed", 0, "Seed of the typical and random rules.")
cli.define_checkpoint_flags()
flags.mark_flags_as_required(["workdir", "budget", "output"])


def _select() -> str:
  from hcsc_jax.evals import label_budget  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import labels_todo  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import batches  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import collection_labels  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import next_batch  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import output_files  # pylint: disable=g-import-not-at-top
  strategy = FLAGS.strategy or batches.DEFAULT_RULE
  next_batch.check_rule(strategy)
  label_budget.parse_budget(FLAGS.budget, 10**15)  # its form, before embedding
  output = output_files.prepare(FLAGS.output)
  collection, labels, skipped = collection_labels.load(
      FLAGS.workdir, FLAGS.labels, FLAGS.input,
      cli.checkpoint_step(FLAGS.workdir),
      require_hierarchy=strategy in next_batch.NEED_HIERARCHY)
  choice, _ = batches.choose(collection, strategy, FLAGS.budget, FLAGS.seed,
                             labels)
  records = labels_todo.rows(collection, choice)
  with output_files.atomic_path(output) as tmp:
    labels_todo.write(records, len(collection.assignments), tmp)
  held = sum(r["held_out"] for r in records)
  done = 0 if labels is None else labels.rows.size
  pool = (f"{len(collection.paths)} images to label first" if not done
          else f"{len(collection.paths) - done} images not labelled yet to "
          "label next")
  lines = [f"wrote {FLAGS.output}: {len(records)} of {pool} ({strategy}"
           + (f"; {held} of them held out of training" if held and
              not FLAGS.input else "") + ")"]
  lines += cli.skipped_files_line(skipped)
  return "\n".join(lines)


main = cli.printing_main(_select)


if __name__ == "__main__":
  app.run(main)
