r"""Export a pre-training checkpoint for PyTorch and other frameworks.

  python -m hcsc_jax.export --workdir=<dir> [--step=N] \
      --format={hcsc,torchvision,detectron2,safetensors} --output=<file>

hcsc        the reference checkpoint format (docs/method.md §8):
            {"epoch", "arch", "state_dict"} with module.encoder_q.*,
            module.encoder_k.*, module.queue (d x K) and module.queue_ptr;
            the original repository's linear-eval loader and detectron2
            converter read it.
torchvision a torchvision resnet{18,34,50} state_dict of the query backbone
            (BN running stats and num_batches_tracked, no fc).
detectron2  a .pkl {"model": {detectron2 names: numpy}, "__author__",
            "matching_heuristics": True} of the query backbone.
safetensors the query backbone with torchvision names, for any framework.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130


from absl import app
from absl import flags

from hcsc_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Pre-training workdir.")
cli.define_checkpoint_flags()
flags.DEFINE_enum("format", None,
                  ["hcsc", "torchvision", "detectron2", "safetensors"],
                  "Output format.")
flags.DEFINE_string("output", None, "Output file.")
flags.mark_flags_as_required(["workdir", "format", "output"])



def main(argv):
  del argv
  from hcsc_jax.interchange import interop  # pylint: disable=g-import-not-at-top
  cli.report_errors(lambda: interop.export(
      FLAGS.workdir, FLAGS.format, FLAGS.output,
      cli.checkpoint_step(FLAGS.workdir)),
                    extra=(ValueError, RuntimeError))
  print(f"wrote {FLAGS.output} ({FLAGS.format})")


if __name__ == "__main__":
  app.run(main)
