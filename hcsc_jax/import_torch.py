r"""Import a PyTorch checkpoint into an orbax workdir.

  python -m hcsc_jax.import_torch --checkpoint=<file.pth> --workdir=<dir> \
      [--config=configs/hcsc_r50_imagenet.py] [--num_examples=1281167]

Reads the reference HCSC/MoCo format (e.g. the authors' hcsc_200eps.pth:
module.encoder_q.*, module.encoder_k.*, module.queue) or a plain torchvision
ResNet state_dict. The architecture, width, stem, embedding size and queue
length are read off the tensors; the rest of the config comes from --config.
A torchvision file has no projection head: the head keeps its fresh
initialisation, and the key encoder starts as a copy of the query encoder.
The workdir is then accepted by export, embed and further training.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

import os

from absl import app
from absl import flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", None, "PyTorch .pth/.pth.tar file.")
flags.DEFINE_string("workdir", None, "Workdir to create.")
flags.DEFINE_integer("num_examples", 1_281_167,
                     "Training-set size the workdir will be used with (fixes "
                     "the shape of the hierarchy arrays).")
config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), "..", "configs",
                           "hcsc_r50_imagenet.py"),
    "Config of the workdir (architecture fields are overridden from the "
    "file).", lock_config=False)
flags.mark_flags_as_required(["checkpoint", "workdir"])



def main(argv):
  del argv
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  from hcsc_jax.interchange import interop  # pylint: disable=g-import-not-at-top
  config = cli.report_errors(
      lambda: interop.import_checkpoint(FLAGS.checkpoint, FLAGS.workdir,
                                        FLAGS.config, FLAGS.num_examples),
      extra=(ValueError, RuntimeError))
  print(f"imported {FLAGS.checkpoint} ({config.arch}, width {config.width}) "
        f"into {FLAGS.workdir}")


if __name__ == "__main__":
  app.run(main)
