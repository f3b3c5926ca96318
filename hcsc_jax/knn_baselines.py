r"""Reference points for kNN numbers: raw pixels and a random encoder.

  python -m hcsc_jax.knn_baselines --config=configs/fashion_mnist.py

Both use the config's eval transform, splits and kNN settings, so they sit on
the same scale as the `knn_top1` a pre-training run reports. Prints one JSON
line per baseline (hcsc_jax/evals/knn_baselines.py).
"""

from hcsc_jax.runtime import startup

if __name__ == "__main__":
  startup.begin()  # Ctrl-C from here on: one line, exit 130

import json

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file.")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  from hcsc_jax.evals import knn_baselines  # pylint: disable=g-import-not-at-top
  for record in knn_baselines.baselines(FLAGS.config):
    print(json.dumps({k: (float(np.round(v, 4)) if isinstance(v, float)
                          else v) for k, v in record.items()}), flush=True)


if __name__ == "__main__":
  app.run(main)
