r"""Embed image files, or a NumPy batch, with a workdir's query encoder
(eval-mode BN).

  python -m hcsc_jax.embed --workdir=<dir> \
      --input=<folder | list.txt | image | images.npy> --output=<feats.npy> \
      [--features=backbone|head] [--step=N] [--neighbors=k]

Image files are decoded and prepared exactly as the run's evaluation
prepares its images (hcsc_jax/embedding/files.py); beside the features go
<feats>.paths.txt (the row order), <feats>.skipped.tsv (unusable files and
why) and, with --neighbors, <feats>.neighbors.csv (each image's k nearest
training images, path and cosine similarity). A .npy input is an NHWC
float32 array that is already normalised. The output is [N, 2048] pooled
backbone features (ResNet-50) or [N, d] L2-normalised head embeddings. The same batch through the exported PyTorch model gives the same
numbers, which is how a conversion can be checked by hand.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130


from absl import app
from absl import flags

from hcsc_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_string("input", None, "A folder of images, a .txt list of image "
                    "paths, one image, or an NHWC float32 .npy already "
                    "normalised.")
flags.DEFINE_string("output", None, "Where to write the features (.npy).")
flags.DEFINE_enum("features", "backbone", ["backbone", "head"],
                  "Pooled backbone features or head embeddings.")
cli.define_checkpoint_flags()
flags.DEFINE_integer("batch_size", 256, "Rows per forward pass.")
flags.DEFINE_integer("neighbors", 0, "Also write each image's k nearest "
                     "training images (path and cosine similarity).")
flags.mark_flags_as_required(["workdir", "input", "output"])


def _embed_array():
  from hcsc_jax.embedding import arrays as embedding_arrays  # pylint: disable=g-import-not-at-top
  features = embedding_arrays.embed_images(
      FLAGS.workdir, embedding_arrays.load_embed_input(FLAGS.input),
      FLAGS.features, cli.checkpoint_step(FLAGS.workdir), FLAGS.batch_size)
  path = embedding_arrays.save_features(features, FLAGS.output)
  return f"wrote {path}: {features.shape}"


def _embed_files():
  """Features, then beside them <name>.paths.txt (row order),
  <name>.skipped.tsv and, with --neighbors, <name>.neighbors.csv."""
  import csv  # pylint: disable=g-import-not-at-top
  from hcsc_jax.embedding import files as file_features  # pylint: disable=g-import-not-at-top
  from hcsc_jax.embedding import arrays as embedding_arrays  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import output_files  # pylint: disable=g-import-not-at-top
  paths = file_features.input_paths(FLAGS.input)
  features, kept, skipped, run = file_features.embed_files(
      FLAGS.workdir, paths, FLAGS.features,
      cli.checkpoint_step(FLAGS.workdir), FLAGS.batch_size)
  path = embedding_arrays.save_features(features, FLAGS.output)
  stem = path[:-len(".npy")]
  with output_files.atomic_path(stem + ".paths.txt") as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write("".join(p + "\n" for p in kept))
  with output_files.atomic_path(stem + ".skipped.tsv") as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write("path\treason\n" + "".join(f"{p}\t{why}\n"
                                         for p, why in skipped))
  lines = [f"wrote {path}: {features.shape} (rows in {stem}.paths.txt)"]
  if skipped:
    lines.append(f"skipped {len(skipped)} unusable file(s), listed in "
                 f"{stem}.skipped.tsv; first: {skipped[0][0]} "
                 f"({skipped[0][1]})")
  if FLAGS.neighbors:
    train, names = file_features.training_features(FLAGS.workdir, *run,
                                                   FLAGS.features)
    top, sims = file_features.nearest(features, train, FLAGS.neighbors)
    with output_files.atomic_path(stem + ".neighbors.csv") as tmp:
      with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "rank", "neighbor", "similarity"])
        for i, name in enumerate(kept):
          for rank, (j, sim) in enumerate(zip(top[i], sims[i]), 1):
            writer.writerow([name, rank, names[j], f"{sim:.4f}"])
    lines.append(f"wrote {stem}.neighbors.csv ({top.shape[1]} nearest "
                 "training images each)")
  return "\n".join(lines)


def main(argv):
  del argv
  command = (_embed_array if FLAGS.input.lower().endswith(".npy")
             else _embed_files)
  print(cli.report_errors(command))


if __name__ == "__main__":
  app.run(main)
