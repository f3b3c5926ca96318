r"""Linear probe on Fashion-MNIST: the ImageNet recipe shortened to 10
epochs (x0.1 at 6 and 8) so it runs in minutes on a CPU; 28 px crops with
the pre-training scale range.

  python -m hcsc_jax.evaluate --config=configs/eval/linear_fashion_mnist.py \
      --workdir=workdirs/fashion_mnist
"""

from configs.eval import common


def get_config():
  c = common.base("linear", "fashion_mnist")
  c.classifier.epochs = 10
  c.classifier.milestones = (6, 8)
  c.classifier.lr = 5.0
  c.classifier.scale = (0.3, 1.0)
  return c
