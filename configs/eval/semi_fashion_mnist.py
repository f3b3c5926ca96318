r"""Semi-supervised fine-tuning on a class-stratified 1% (default) or 10%
(`:10pct`) of Fashion-MNIST's labels: the ImageNet recipe's learning rates
over 20 epochs (x0.1 at 10 and 15), batch 64 (1% is 600 images).

  python -m hcsc_jax.evaluate --config=configs/eval/semi_fashion_mnist.py \
      --workdir=workdirs/fashion_mnist
"""

from hcsc_jax.configs.eval import common


def get_config(subset="1pct"):
  subset = subset or "1pct"
  c = common.base("semi_supervised", "fashion_mnist")
  c.name = f"semi_{subset}_fashion_mnist"
  c.classifier.subset = subset
  c.classifier.epochs = 20
  c.classifier.batch_size = 64
  c.classifier.lr = 0.02
  c.classifier.backbone_lr = 0.005
  c.classifier.milestones = (10, 15)
  c.classifier.scale = (0.5, 1.0)
  c.bn_group_size = 32
  c.log_every = 10
  return c
