"""The evaluation configs' shared fields; each protocol file picks the
protocol, the data set and its reference hyper-parameters
(docs/method.md §7)."""

import ml_collections
from ml_collections import config_dict

from hcsc_jax.configs import fashion_mnist
from hcsc_jax.configs import hcsc_r50_imagenet
from hcsc_jax.configs import image_folder
from hcsc_jax.evals import knn
from hcsc_jax.evals import run_data

DATASETS = ("imagenet", "fashion_mnist", "image_folder")


def base(protocol: str, dataset: str) -> ml_collections.ConfigDict:
  if dataset not in DATASETS:
    raise ValueError(f"unknown data set {dataset!r}; known: {DATASETS}.")
  c = ml_collections.ConfigDict()
  c.name = f"{protocol}_{dataset}"
  c.protocol = protocol
  c.encoder = "checkpoint"       # or the baselines "random", "pixels"
  c.checkpoint = config_dict.placeholder(str)  # PyTorch .pth.tar instead
  c.step = config_dict.placeholder(int)        # pre-training step to load
  c.arch = config_dict.placeholder(str)        # expected architecture
  c.seed = 0
  c.features = "backbone"        # pooled backbone or "head" embeddings
  c.batch_size = 1024            # feature extraction / evaluation batch
  # Label-scarce protocols (kNN, logistic linear, semi-supervised): train on
  # a class-balanced subset (a fraction, or a count per class), drawn
  # label_draws times with fixed seeds; 0 and 0: all labels.
  c.label_fraction = 0.0
  c.labels_per_class = 0
  c.label_draws = 5
  # Who picks the subset: '' = class-balanced random draws (needs the labels
  # to draw); or a rule that does not look at them (evals/label_budget.py):
  # "prototypes", "typical", "random" ("random_balanced" = the draws).
  c.label_selection = ""
  c.bn_group_size = 32           # BN groups when fine-tuning
  c.log_every = 100
  source = {"imagenet": hcsc_r50_imagenet, "fashion_mnist": fashion_mnist,
            "image_folder": image_folder}[dataset]
  # Empty: every data setting comes from the encoder's training run
  # (config.json); a value set here or on the command line overrides it.
  c.data = run_data.inheritable(source.get_config().data)
  # Only for encoders without a training config (--config.checkpoint=.pth).
  c.dataset_defaults = source.get_config().data
  c.knn = knn.config_block()
  c.classifier = ml_collections.ConfigDict(dict(
      epochs=100, batch_size=256, lr=5.0, backbone_lr=0.0,
      milestones=(60, 80), momentum=0.9, weight_decay=0.0,
      scale=(0.08, 1.0), flip_prob=0.5, subset="", keep_checkpoints=2,
      checkpoint_every=1, method="sgd", logistic_c=1.0))
  c.clustering = ml_collections.ConfigDict(dict(
      num_clusters=(1000, 25000), niter=20, nredo=1, seed=0,
      split="train"))  # "train"/"eval": the run's data.train_split/eval_split
  if dataset in ("fashion_mnist", "image_folder"):
    c.batch_size = 1000
    c.knn.chunk = 1000
    c.log_every = 50
  return c
