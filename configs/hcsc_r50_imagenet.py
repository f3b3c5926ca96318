r"""HCSC, ResNet-50, ImageNet, 200 epochs: the reference recipe exactly.

  python -m hcsc_jax.main --config=configs/hcsc_r50_imagenet.py \
      --workdir=/ckpt/hcsc_r50 --config.data.manual_dir=/data/imagenet_tars

Cost: the reference needs ~4 days on 8 V100s; see BENCHMARKS.md for ours.
Variants: `:smoke` (tiny shapes, for tests).
"""

import ml_collections
from ml_collections import config_dict

from hcsc_jax.evals import knn
from hcsc_jax.method import variants

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.seed = 0

  # Encoder (docs/method.md §1).
  c.arch = "resnet50"
  c.width = 64
  c.small_stem = False
  c.embed_dim = 128
  c.bn_group_size = 32       # per-GPU BN of the reference (8 x 32)
  c.shuffle_bn = True        # permute keys across BN groups
  c.dtype = "float32"        # compute dtype; "bfloat16" for mixed precision
  c.ema_momentum = 0.999     # key encoder EMA
  c.queue_size = 16384

  # Optimisation (docs/method.md §6): lr = base_lr * batch_size / 256.
  c.batch_size = 256
  c.base_lr = 0.03
  c.sgd_momentum = 0.9
  c.weight_decay = 1e-4
  c.epochs = 200
  c.warmup_epochs = 20       # epochs of plain InfoNCE before clustering
  c.max_steps_per_epoch = config_dict.placeholder(int)  # smoke tests only
  c.skip_nonfinite_steps = False  # True: drop a NaN/inf step and go on

  # Hierarchy and objective (docs/method.md §2-5).
  c.use_hierarchy = True
  c.num_clusters = (3000, 2000, 1000)
  c.objective = ml_collections.ConfigDict(dict(
      tau=0.2, instance_loss=True, prototype_loss=True,
      instance_selection=True, prototype_selection=True,
      local_instance_selection=False, masking="zero", level_reduction="sum",
      candidates="batch", sampler="hash"))
  c.kmeans = ml_collections.ConfigDict(dict(
      niter=20, nredo=5, max_points_per_centroid=1000,
      min_points_per_centroid=10, seed=0,
      backend="faiss"))  # or "jax": k-means on the accelerators (TPUs)

  # Data.
  c.data = ml_collections.ConfigDict(dict(
      pipeline="tfdata",   # or "device": the data set in accelerator memory
      name="imagenet2012", data_dir=config_dict.placeholder(str),
      manual_dir=config_dict.placeholder(str), train_split="train",
      eval_split="validation", image_size=224, eval_resize=256,
      mean=IMAGENET_MEAN, std=IMAGENET_STD, cache=False,
      shuffle_buffer=50_000, threads=0,
      preload_size=0,      # image folders, embed: stored size (0: eval_resize)
      folder_input="auto",  # image folders: "memory" | "stream" | "auto":
      memory_budget_gb=4.0,  # memory when the decoded images fit this
      device_prefetch=2,   # batches copied to the devices ahead of use
      num_shards=config_dict.placeholder(int)))  # default: one per process
  c.augment = ml_collections.ConfigDict(dict(
      scale=(0.2, 1.0), jitter_prob=0.8, jitter=(0.4, 0.4, 0.4, 0.1),
      grayscale_prob=0.2, blur_prob=0.5, blur_sigma=(0.1, 2.0),
      flip_prob=0.5, local_sizes=(), local_scales=(),
      # The host decodes and crops (uint8); colour jitter, grayscale, blur
      # and flip run in the train step: ~3x fewer host cores per GPU
      # (BENCHMARKS.md). False: all of it on the host in float32.
      on_device=True))
  c.embed_batch_size = 1024

  # Bookkeeping.
  c.reset_from = config_dict.placeholder(str)  # see README "Bad input"
  c.log_every = 100
  c.checkpoint_every = 1     # epochs
  c.keep_checkpoints = 3
  c.lock_timeout_s = 600     # a workdir lock older than this is stale
  c.eval_every = 10          # epochs between online kNN evaluations; 0 = off
  c.visualize_every = 20     # epochs between TensorBoard figures; 0 = off
  c.visualize_sample = 1000  # training examples the figures use
  # Online kNN (eval_every) and the final one; label_fractions adds kNN on
  # class-balanced label subsets (5 draws), pixel_baseline the same on raw
  # pixels (small images only), both at the end; label_selection adds the
  # same fractions with the labelled images picked by a rule that does not
  # look at the labels (evals/label_budget.py: "typical", "prototypes").
  c.knn = knn.config_block(enabled=True, label_fractions=(),
                           pixel_baseline=False, label_selection="")

  if arg == "smoke":
    smoke(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r}; known: 'smoke'.")
  return c


def mocov2(c):
  """The MoCo v2 baseline: the same trainer with every HCSC part off."""
  return variants.mocov2(c)


def smoke(c):
  """Tiny shapes for end-to-end tests under tfds.testing.mock_data."""
  c.arch = "resnet18"
  c.width = 4
  c.small_stem = True
  c.embed_dim = 16
  c.bn_group_size = 4
  c.queue_size = 32
  c.batch_size = 16
  c.epochs = 2
  c.warmup_epochs = 1
  c.num_clusters = (8, 4, 2)
  c.kmeans.nredo = 1
  c.kmeans.niter = 5
  c.data.image_size = 16
  c.data.eval_resize = 16
  c.data.shuffle_buffer = 256
  c.augment.blur_sigma = (0.1, 0.5)
  c.embed_batch_size = 32
  c.log_every = 2
  c.knn.ks = (1, 3)
  c.knn.chunk = 32
  if c.knn.label_fractions:  # 64 examples: 1% would be none
    c.knn.label_fractions = (0.25,)
  return c
