r"""Semi-supervised fine-tuning on TFDS `imagenet2012_subset` (1% default,
`:10pct`): backbone lr 0.005, head lr 0.02, x0.1 at epochs 30 and 60, 70
epochs, SGD momentum 0.9, wd 0, batch 256.

  python -m hcsc_jax.evaluate --config=configs/eval/semi_imagenet.py:10pct \
      --workdir=<pre-training workdir> --config.data.manual_dir=<tars>
"""

from hcsc_jax.configs.eval import common


def get_config(subset="1pct"):
  subset = subset or "1pct"
  c = common.base("semi_supervised", "imagenet")
  c.name = f"semi_{subset}_imagenet"
  c.data.name = f"imagenet2012_subset/{subset}"
  c.classifier.epochs = 70
  c.classifier.lr = 0.02
  c.classifier.backbone_lr = 0.005
  c.classifier.milestones = (30, 60)
  return c
