r"""Linear evaluation on Fashion-MNIST: logistic regression (C=1) on the
standardised frozen backbone features (eval transform), which runs in
seconds and has no crop noise, so label-scarce subsets
(`--config.label_fraction=0.01`, 5 draws) and the raw-pixel baseline
(`--config.encoder=pixels`) go through the same code.

`--config.classifier.method=sgd` gives the SGD probe instead: the ImageNet
recipe shortened to 10 epochs (x0.1 at 6 and 8), 28 px crops with the
pre-training scale range, and lr 0.5 (the reference 5.0 overshoots on the
narrow encoder's 64-d features: 74.1% vs 77.0% top-1 on the 5-epoch HCSC
run, BENCHMARKS.md).

  python -m hcsc_jax.evaluate --config=configs/eval/linear_fashion_mnist.py \
      --workdir=workdirs/fashion_mnist
"""

from hcsc_jax.configs.eval import common


def get_config():
  c = common.base("linear", "fashion_mnist")
  c.classifier.epochs = 10
  c.classifier.milestones = (6, 8)
  c.classifier.lr = 0.5
  c.classifier.scale = (0.5, 1.0)
  c.classifier.method = "logistic"
  return c
