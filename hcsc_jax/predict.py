r"""Label a whole collection from a few human labels.

  python -m hcsc_jax.predict --workdir=<run> --labels=<labels_todo.csv> \
      [--labels=<more.csv> ...] --output=<predictions.csv> \
      [--input=<folder | list.txt>] [--predictor=auto] [--step=N]

Reads the labels the user filled in (any CSV with `path` and `label`
columns; later files correct earlier ones), embeds the run's collection
(or the --input images) with its encoder, and writes for every image its
label (human where given, else predicted), the source, the predicted
class, confidence, runner-up and margin, a doubt score and its prototype
at each level. Beside the output: doubtful_labels.csv (human labels the
encoder disagrees with: probable typos, correct them there),
doubtful_predictions.csv (the least certain predictions with an empty
label column: fill it in and pass it back with --labels) and
predictions_summary.json. The summary printed at the end estimates the
accuracy from the labels alone (5-fold cross-validation) and how many
images can be labelled at >= 95% estimated precision.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

from hcsc_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_multi_string("labels", None, "A CSV with `path` and `label` "
                          "columns; repeat the flag for more files (a later "
                          "file's label replaces an earlier one).")
flags.DEFINE_string("output", None, "The predictions CSV to write; the "
                    "doubt lists and the summary go beside it.")
flags.DEFINE_string("input", None, "Predict these image files (a folder, "
                    "searched recursively, or a .txt list) instead of the "
                    "run's own images.")
flags.DEFINE_string("predictor", "auto", "auto (of spread and logistic, "
                    "the one with the higher cross-validated accuracy on "
                    "your labels), spread (label spreading on the neighbour "
                    "graph), logistic, knn or hierarchy.")
flags.DEFINE_integer("doubts", 500, "How many of the least certain "
                     "predictions doubtful_predictions.csv lists.")
flags.DEFINE_integer("seed", 0, "Seed of the cross-validation folds.")
cli.define_checkpoint_flags()
flags.mark_flags_as_required(["workdir", "labels", "output"])


def _predict() -> str:
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import collection_labels  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import prediction  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import output_files  # pylint: disable=g-import-not-at-top
  output = output_files.prepare(FLAGS.output)
  collection, labels, skipped = collection_labels.load(
      FLAGS.workdir, FLAGS.labels, FLAGS.input,
      cli.checkpoint_step(FLAGS.workdir))
  result = prediction.predict(collection.backbone, labels, FLAGS.predictor,
                              collection.hierarchy() if
                              collection.has_hierarchy else None, FLAGS.seed)
  directory = os.path.dirname(output)
  beside = {name: os.path.join(directory, name) for name in
            ("doubtful_labels.csv", "doubtful_predictions.csv",
             "predictions_summary.json")}
  record = prediction.summary(result)
  record["labels"] = [os.path.abspath(f) for f in FLAGS.labels]
  record["root"] = collection.root
  with output_files.atomic_files([output] + list(beside.values())) as tmp:
    prediction.write_predictions(result, collection, tmp[0])
    prediction.write_doubtful_labels(result, collection, tmp[1])
    prediction.write_doubtful_predictions(result, collection, tmp[2],
                                          FLAGS.doubts)
    with open(tmp[3], "w", encoding="utf-8") as f:
      json.dump(record, f, indent=1, ensure_ascii=False)
  lines = [f"wrote {output}: {len(collection.paths)} images"]
  lines += prediction.summary_lines(record)
  if labels.corrected:
    lines.append(f"{labels.corrected} label(s) corrected by a later "
                 "--labels file")
  lines.append(f"{record['doubtful_labels']} human label(s) the encoder "
               f"disagrees with -> {beside['doubtful_labels.csv']}")
  lines.append(f"the {min(FLAGS.doubts, record['predicted'])} least certain"
               f" predictions -> {beside['doubtful_predictions.csv']}")
  lines += cli.skipped_files_line(skipped)
  return "\n".join(lines)


main = cli.printing_main(_predict)


if __name__ == "__main__":
  app.run(main)
