r"""HCSC on your own folder of images (JPEG, PNG, WebP, BMP, GIF; any
depth):

  python -m hcsc_jax.main --config=configs/image_folder.py \
      --config.data.folder=<folder> --workdir=<dir>

Labels (`data.labels`): class subfolders (`<folder>/<class>/...`) are used
when every image sits one level below one ("auto"); "none" ignores them.
Held-out images: `<folder>/train/` beside `<folder>/test/` (or `val/`),
else `data.holdout_fraction` (10%) drawn with a fixed seed; kNN runs on them
when there are labels. The images are decoded once into a uint8 cache
(`data.cache_dir`) at `data.preload_size` (default: data.eval_resize).
Input path (`data.folder_input`): "auto" holds the decoded images in
memory (and on the devices) when they fit `data.memory_budget_gb` (4 GB),
else streams them from the cache file on disk; "memory" / "stream" force
one.
Left empty, `num_clusters` (about 20 / 100 / 500 images per cluster) and
`data.mean` / `data.std` (measured on the images) are derived and saved in
the workdir's config.json.

A ResNet-18 at width 16 with the small-image stem on 64 px crops: a
recipe for CPUs and single GPUs; for photos on GPUs raise width,
image_size, eval_resize and epochs.
Variants: `:fashion_mnist` (the demo's recipe, for the README's worked
example on a PNG copy of Fashion-MNIST), `:smoke` (tests).
"""

from hcsc_jax.configs import fashion_mnist
from hcsc_jax.configs import hcsc_r50_imagenet


def get_config(arg=None):
  c = fashion_mnist.get_config()
  c.width = 16
  c.num_clusters = ()        # derived from the number of images
  c.data.name = "image_folder"
  c.data.pipeline = "device"
  c.data.folder = ""
  c.data.labels = "auto"     # "subfolders" | "none"
  c.data.holdout_fraction = 0.1
  c.data.holdout_seed = 0
  c.data.cache_dir = ""      # "": ~/.cache/hcsc_jax/image_folders
  c.data.image_size = 64
  c.data.eval_resize = 72
  c.data.mean = ()           # measured on the images
  c.data.std = ()
  c.augment.scale = (0.2, 1.0)
  c.augment.blur_prob = 0.5
  c.augment.blur_sigma = (0.1, 2.0)
  c.knn.label_fractions = ()
  c.knn.pixel_baseline = False
  c.knn.label_selection = ""
  if arg == "fashion_mnist":
    demo = fashion_mnist.get_config()
    c.width = demo.width
    c.num_clusters = demo.num_clusters
    for field in ("image_size", "eval_resize", "mean", "std"):
      c.data[field] = demo.data[field]
    c.augment = demo.augment
    c.knn = demo.knn
  elif arg == "smoke":
    hcsc_r50_imagenet.smoke(c)
    c.data.image_size = 16
    c.data.eval_resize = 16
  elif arg:
    raise ValueError(f"unknown config variant {arg!r}; known: "
                     "'fashion_mnist', 'smoke'.")
  return c
