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

import os

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("output", None, "Folder to write (created).")
flags.DEFINE_string("manual_dir", None, "Folder of the idx files (default: "
                    "Debian's dataset-fashion-mnist).")
flags.DEFINE_integer("limit", 0, "Images per split (0: all).")
flags.mark_flags_as_required(["output"])


def write_png_folder(source: str | None, output: str, limit: int = 0) -> dict:
  """Writes the PNGs (skipping those already there); returns the count per
  split."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import tqdm  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  directory = fashion_mnist_files.source_dir(source)
  fashion_mnist_files.check_source_dir(directory)
  names = [n.replace("/", "-") for n in fashion_mnist_files.CLASS_NAMES]
  counts = {}
  for split in fashion_mnist_files.FILES:
    images, labels = fashion_mnist_files.read_split(directory, split)
    if limit:
      images, labels = images[:limit], labels[:limit]
    for name in names:
      os.makedirs(os.path.join(output, split, name), exist_ok=True)
    for i in tqdm.tqdm(range(len(labels)), desc=f"writing {split}",
                       mininterval=1.0, leave=False):
      path = os.path.join(output, split, names[int(labels[i])],
                          f"{i:05d}.png")
      if not os.path.exists(path):
        Image.fromarray(np.asarray(images[i], np.uint8)).save(path + ".tmp",
                                                              format="PNG")
        os.replace(path + ".tmp", path)
    counts[split] = int(len(labels))
  return counts


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
  counts = cli.report_errors(lambda: write_png_folder(
      FLAGS.manual_dir, FLAGS.output, FLAGS.limit))
  print(f"wrote {FLAGS.output}: " + ", ".join(
      f"{n} {split} images" for split, n in counts.items()))


if __name__ == "__main__":
  app.run(main)
