r"""The labelled collection as class folders a new run trains on.

  python -m hcsc_jax.export_labels --predictions=<predictions.csv> \
      --output=<folder> [--include=confident | human | all] [--copy] \
      [--min_confidence=<c>] [--root=<image folder>]

Writes `<folder>/<class>/<file>` (links to the original images, or copies
with --copy) and `<folder>/labels.csv` for the images `--include` names:
the human labels only, those plus the predictions estimated >= 95%
precise (`confident`, the default: the threshold predict printed, or
--min_confidence), or every image. Train on it with
`python -m hcsc_jax.main --config=configs/image_folder.py
--config.data.folder=<folder> --workdir=<dir>`.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("predictions", None, "The CSV predict wrote.")
flags.DEFINE_string("output", None, "A new (or empty) folder for the tree.")
flags.DEFINE_string("include", "confident", "human, confident (human + "
                    "predictions estimated >= 95% precise) or all.")
flags.DEFINE_float("min_confidence", None, "Confidence a prediction needs "
                   "with --include=confident (default: predict's estimate).")
flags.DEFINE_bool("copy", False, "Copy the images instead of linking them.")
flags.DEFINE_string("root", None, "The folder relative paths are in "
                    "(default: the one predict recorded).")
flags.mark_flags_as_required(["predictions", "output"])


def _export() -> str:
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import export  # pylint: disable=g-import-not-at-top
  rows = export.read_predictions(FLAGS.predictions)
  summary_path = os.path.join(os.path.dirname(os.path.abspath(
      FLAGS.predictions)), "predictions_summary.json")
  summary = {}
  if os.path.isfile(summary_path):
    with open(summary_path, encoding="utf-8") as f:
      summary = json.load(f)
  threshold = (FLAGS.min_confidence if FLAGS.min_confidence is not None
               else summary.get("confidence_threshold_95"))
  picked = export.chosen(rows, FLAGS.include, threshold)
  counts = export.write_tree(picked, FLAGS.output,
                             FLAGS.root or summary.get("root"), FLAGS.copy)
  human = sum(r["source"] == "human" for r in picked)
  return (f"wrote {FLAGS.output}: {len(picked)} images in {len(counts)} "
          f"class folders ({human} human labels, {len(picked) - human} "
          f"predicted; {'copies' if FLAGS.copy else 'links'}) and "
          "labels.csv\ntrain on it: python -m hcsc_jax.main "
          "--config=configs/image_folder.py "
          f"--config.data.folder={FLAGS.output} --workdir=<dir>")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  print(cli.report_errors(_export))


if __name__ == "__main__":
  app.run(main)
