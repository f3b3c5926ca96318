r"""MoCo v2 baseline, ResNet-50, ImageNet, 200 epochs: the HCSC trainer with
every HCSC part off (no clustering, plain InfoNCE throughout).

  python -m hcsc_jax.main --config=configs/mocov2_r50_imagenet.py \
      --workdir=/ckpt/mocov2_r50 --config.data.manual_dir=/data/imagenet_tars

Variants: `:smoke`.
"""

from hcsc_jax.configs import hcsc_r50_imagenet


def get_config(arg=None):
  return hcsc_r50_imagenet.mocov2(hcsc_r50_imagenet.get_config(arg))
