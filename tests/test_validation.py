"""Startup validation: one clear line per problem, naming the field."""

import pytest

from hcsc_jax.training import validation
from hcsc_jax.training.validation import ConfigError
from tests.trainer_fixtures import smoke_config


@pytest.mark.parametrize("overrides, context, message", [
    ({"queue_size": 40}, {}, "queue_size=40 is not a multiple of batch_size"),
    ({"num_clusters": (100, 50, 10)}, {"num_examples": 64},
     "num_clusters\\[0\\]=100 exceeds the 64"),
    ({"num_clusters": (8, 8, 2)}, {}, "strictly decreasing"),
    ({"num_clusters": (4, 8)}, {}, "strictly decreasing"),
    ({"warmup_epochs": 2}, {}, "warmup_epochs=2 >= epochs=2"),
    ({}, {"device_count": 3}, "does not divide over 3 devices"),
    ({"arch": "resnet7"}, {}, "arch='resnet7' is unknown"),
    ({"bn_group_size": 5}, {}, "bn_group_size=5"),
    ({"objective.masking": "drop"}, {}, "objective.masking='drop'"),
    ({"dtype": "float8"}, {}, "dtype='float8'"),
    ({"batch_size": 0, "queue_size": 0}, {}, "batch_size=0"),
    ({"kmeans.backend": "gpu"}, {}, "kmeans.backend='gpu'"),
    ({"eval_every": -1}, {}, "eval_every=-1"),
    ({"keep_checkpoints": 0}, {}, "keep_checkpoints=0 must be at least 1"),
    ({"checkpoint_every": 0}, {}, "checkpoint_every=0 must be at least 1"),
    ({"base_lr": -0.06}, {}, "base_lr=-0.06 must be > 0"),
    ({"knn.ks": (1000,)}, {"num_examples": 512},
     "k=1000 exceeds the 512 training examples"),
    ({"objective.tau": 0.0}, {}, "objective.tau=0.0 must be > 0"),
    ({"augment.scale": (0.6, 0.3)}, {}, "augment.scale=\\(0.6, 0.3\\)"),
    ({"augment.flip_prob": 1.5}, {}, "augment.flip_prob=1.5 must be a "
     "probability"),
    ({"ema_momentum": 1.5}, {}, "ema_momentum=1.5 must be in \\[0, 1\\]"),
    ({"data.image_size": 64}, {}, "data.eval_resize=16 is smaller than "
     "data.image_size=64"),
    ({"data.pipeline": "magic"}, {}, "data.pipeline='magic'"),
    ({"data.pipeline": "device", "data.name": "imagenet2012"}, {},
     "needs data.pipeline='tfdata'"),
])
def test_each_problem_is_named(overrides, context, message):
  config = smoke_config(**overrides)
  with pytest.raises(ConfigError, match=message):
    validation.validate_config(config, **context)


def test_all_problems_are_listed_together():
  config = smoke_config(queue_size=40, arch="resnet7", warmup_epochs=5)
  problems = validation.config_problems(config)
  assert len(problems) == 3


def test_valid_configs_pass():
  from hcsc_jax.configs import (fashion_mnist, fashion_mnist_long,  # pylint: disable=g-import-not-at-top
                       fashion_mnist_mocov2, hcsc_r50_imagenet,
                       hcsc_r50_imagenet_multicrop, mocov2_r50_imagenet)
  for module in (fashion_mnist, fashion_mnist_long, fashion_mnist_mocov2,
                 hcsc_r50_imagenet, hcsc_r50_imagenet_multicrop,
                 mocov2_r50_imagenet):
    for arg in (None, "smoke"):
      assert validation.config_problems(module.get_config(arg)) == []
  from hcsc_jax.configs import image_folder  # pylint: disable=g-import-not-at-top
  for arg in (None, "smoke", "fashion_mnist"):
    assert validation.config_problems(image_folder.get_config(arg)) == []
  with pytest.raises(ValueError, match="unknown config variant"):
    fashion_mnist.get_config("huge")
