r"""Embed a NumPy batch with a workdir's query encoder (eval-mode BN).

  python -m hcsc_jax.embed --workdir=<dir> --input=<images.npy> \
      --output=<feats.npy> [--features=backbone|head] [--step=N]

The input is an NHWC float32 array that is already normalised; the output is
[N, 2048] pooled backbone features (ResNet-50) or [N, d] L2-normalised head
embeddings. The same batch through the exported PyTorch model gives the same
numbers, which is how a conversion can be checked by hand.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130


from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
flags.DEFINE_string("input", None, "NHWC float32 .npy, already normalised.")
flags.DEFINE_string("output", None, "Where to write the features (.npy).")
flags.DEFINE_enum("features", "backbone", ["backbone", "head"],
                  "Pooled backbone features or head embeddings.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.DEFINE_integer("batch_size", 256, "Rows per forward pass.")
flags.mark_flags_as_required(["workdir", "input", "output"])



def main(argv):
  del argv
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  from hcsc_jax.interchange import interop  # pylint: disable=g-import-not-at-top
  def embed():
    features = interop.embed_images(
        FLAGS.workdir, interop.load_embed_input(FLAGS.input), FLAGS.features,
        FLAGS.step, FLAGS.batch_size)
    return interop.save_features(features, FLAGS.output), features.shape

  path, shape = cli.report_errors(embed)
  print(f"wrote {path}: {shape}")


if __name__ == "__main__":
  app.run(main)
