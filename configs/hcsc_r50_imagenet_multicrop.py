r"""HCSC multi-crop, ResNet-50, ImageNet, 200 epochs (docs/method.md §5).

  python -m hcsc_jax.main --config=configs/hcsc_r50_imagenet_multicrop.py \
      --workdir=/ckpt/hcsc_r50_mc --config.data.manual_dir=/data/imagenet_tars

Two 224 global crops plus local crops of 192/160/128/96 px: roughly 2.2x the
single-crop step cost. Variants: `:smoke`.
"""

from hcsc_jax.configs import hcsc_r50_imagenet


def get_config(arg=None):
  c = hcsc_r50_imagenet.get_config(arg)
  if arg == "smoke":
    c.augment.local_sizes = (12, 8)
    c.augment.local_scales = ((0.172, 0.86), (0.086, 0.429))
  else:
    c.augment.local_sizes = (192, 160, 128, 96)
    c.augment.local_scales = ((0.172, 0.86), (0.143, 0.715),
                              (0.114, 0.571), (0.086, 0.429))
  return c
