r"""Linear evaluation on a labelled image folder run: logistic regression
(C=1) on the standardised frozen backbone features of the training images,
scored on the held-out ones (`--config.classifier.method=sgd` for the SGD
probe over augmented crops).

  python -m hcsc_jax.evaluate --config=configs/eval/linear_image_folder.py \
      --workdir=<folder run> [--config.label_fraction=0.1]
"""

from hcsc_jax.configs.eval import common


def get_config():
  c = common.base("linear", "image_folder")
  c.classifier.method = "logistic"
  c.classifier.epochs = 10
  c.classifier.milestones = (6, 8)
  c.classifier.lr = 0.5
  c.classifier.scale = (0.2, 1.0)
  return c
