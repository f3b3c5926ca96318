r"""Write Fashion-MNIST's idx files out as a folder of PNG images, to try
the image-folder path offline on data whose idx-path results are known:

  python -m hcsc_jax.write_fashion_mnist_folder --output=<folder> \
      [--manual_dir=<idx files>] [--limit=<images per split>]

gives <folder>/train/<class>/<n>.png and <folder>/test/<class>/<n>.png
(class names with '/' written as '-'), which configs/image_folder.py reads
with the labels and the held-out split of the original.
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("output", None, "Folder to write (created).")
flags.DEFINE_string("manual_dir", None, "Folder of the idx files (default: "
                    "Debian's dataset-fashion-mnist).")
flags.DEFINE_integer("limit", 0, "Images per split (0: all).")
flags.mark_flags_as_required(["output"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import fashion_mnist_png  # pylint: disable=g-import-not-at-top
  counts = cli.report_errors(lambda: fashion_mnist_png.write_png_folder(
      FLAGS.manual_dir, FLAGS.output, FLAGS.limit))
  print(f"wrote {FLAGS.output}: " + ", ".join(
      f"{n} {split} images" for split, n in counts.items()))


if __name__ == "__main__":
  app.run(main)
