r"""The label-loop study: simulated labelling rounds on finished runs, the
data set's labels as the oracle (hcsc_jax/studies/label_rounds.py).

  python -m hcsc_jax.simulate_labelling \
      --workdirs=<run seed 0>,<run seed 1>,<run seed 2> \
      --output=results/label_loop_study [--rules=typical,hierarchy,...]

Each rule starts from no labels and labels 10 images a round up to 100,
then 100 a round up to 1,000, recording after each round the test
accuracy (kNN, logistic), the accuracy of the predicted labels on the
rest, coverage at 95% precision, the doubt scores' AUROC, what the labels
alone estimate, and typo detection with 5% of the answers flipped.
Records go to `<output>/seed_<n>/<rule>.json` (a rerun skips finished
ones) and the table to `<output>/study.md`.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

from hcsc_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_list("workdirs", None, "Finished runs, one per seed.")
flags.DEFINE_string("output", None, "Folder for the records and table.")
flags.DEFINE_list("rules", None, "Rules to simulate (default: all).")
flags.DEFINE_list("schedule", None, "Labels after each round (default: "
                  "10, 20, ..., 100, 200, ..., 1000).")
flags.mark_flags_as_required(["workdirs", "output"])


def _simulate() -> str:
  import os  # pylint: disable=g-import-not-at-top
  from hcsc_jax.studies import label_rounds  # pylint: disable=g-import-not-at-top
  from hcsc_jax.studies import label_rounds_table  # pylint: disable=g-import-not-at-top
  schedule = (tuple(int(x) for x in FLAGS.schedule) if FLAGS.schedule
              else label_rounds.SCHEDULE)
  records = label_rounds.run_study(
      FLAGS.workdirs, FLAGS.output, FLAGS.rules or label_rounds.RULES,
      schedule)
  table = label_rounds_table.markdown(records)
  path = os.path.join(FLAGS.output, "study.md")
  with open(path, "w", encoding="utf-8") as f:
    f.write(table)
  return f"wrote {path}\n" + table


main = cli.printing_main(_simulate)


if __name__ == "__main__":
  app.run(main)
