r"""Linear probe, reference recipe: frozen backbone (eval-mode BN), SGD
momentum 0.9, wd 0, batch 256, lr 5.0, x0.1 at epochs 60 and 80, 100 epochs.

  python -m hcsc_jax.evaluate --config=configs/eval/linear_imagenet.py \
      --workdir=<pre-training workdir>
"""

from hcsc_jax.configs.eval import common


def get_config():
  return common.base("linear", "imagenet")
