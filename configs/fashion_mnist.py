r"""HCSC on Fashion-MNIST on a CPU: the README's main job.

  python -m hcsc_jax.main --config=configs/fashion_mnist.py \
      --workdir=workdirs/fashion_mnist

A narrow ResNet-18 with the small-image stem on 28 px images; 60k training
images, clustering from epoch 2 on. The recipe is the best of the search in
BENCHMARKS.md ("Fashion-MNIST recipe search") that fits 20 minutes on 2 CPU
cores: batch 128 (twice the steps of 256 at the same cost per image),
crops of (0.5, 1) of the area, base lr 0.12, 6 epochs. Variants: `:smoke`
(tests).
"""

from hcsc_jax.configs import hcsc_r50_imagenet

FASHION_MNIST_MEAN = (0.286, 0.286, 0.286)
FASHION_MNIST_STD = (0.353, 0.353, 0.353)


def get_config(arg=None):
  c = hcsc_r50_imagenet.get_config()
  c.arch = "resnet18"
  c.width = 8
  c.small_stem = True
  c.embed_dim = 64
  c.bn_group_size = 32
  c.batch_size = 128
  c.base_lr = 0.12         # lr = base_lr * batch / 256 = 0.06
  c.ema_momentum = 0.99    # ~2800 steps in all: 0.999 barely moves the keys
  c.queue_size = 4096
  c.epochs = 6
  c.warmup_epochs = 1
  c.num_clusters = (300, 100, 30)
  c.data.pipeline = "device"  # 47 MB of uint8: batches made on the devices
  c.data.name = "fashion_mnist_local"
  c.data.train_split = "train"
  c.data.eval_split = "test"
  c.data.image_size = 28
  c.data.eval_resize = 28
  c.data.mean = FASHION_MNIST_MEAN
  c.data.std = FASHION_MNIST_STD
  c.data.cache = True
  c.data.shuffle_buffer = 60_000
  # 28 px images: a gentler crop and blur than ImageNet's 224 px.
  c.augment.scale = (0.5, 1.0)
  c.augment.blur_sigma = (0.1, 0.5)
  c.augment.blur_prob = 0.0
  c.embed_batch_size = 1000
  c.log_every = 50
  c.eval_every = 1
  c.visualize_every = 5      # figures of the final hierarchy in TensorBoard
  c.knn.ks = (10, 20, 100, 200)
  c.knn.chunk = 1000
  c.knn.label_fractions = (0.01,)  # the final line's knn_top1@1%
  c.knn.pixel_baseline = True      # ... and raw pixels' under the same kNN
  # ... and the same 1% labelled where HCSC's prototypes point (the pixels
  # get a hierarchical k-means of their own): knn_top1@1%:prototypes.
  c.knn.label_selection = "prototypes"
  if arg == "smoke":
    hcsc_r50_imagenet.smoke(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r}; known: 'smoke'.")
  return c
