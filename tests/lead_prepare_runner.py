"""One process of the lead-only preparation test (tests/test_stopping.py).

  python -m tests.lead_prepare_runner <data_dir> <idx_source> <marker_dir>

with HCSC_COORDINATOR, HCSC_NUM_PROCESSES and HCSC_PROCESS_ID set. Loads the
fashion_mnist_local TFDS builder into an empty `data_dir`; each process that
actually prepares it leaves `prepared_by_<i>` in `marker_dir`.
"""

import os
import sys

os.environ["JAX_PLATFORMS"] = "cpu"
from tests import xla_flags  # pylint: disable=wrong-import-position
os.environ["XLA_FLAGS"] = xla_flags.flags(1)
from hcsc_jax.runtime import xla_cpu  # pylint: disable=wrong-import-position
xla_cpu.apply_defaults()  # as the commands and the tests do


def main() -> None:
  data_dir, source, markers = sys.argv[1:4]
  from hcsc_jax.runtime import distributed  # pylint: disable=g-import-not-at-top
  assert distributed.initialize_from_environment()
  import jax  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.tfdata import pipeline  # pylint: disable=g-import-not-at-top
  from tests.trainer_fixtures import device_smoke_config  # pylint: disable=g-import-not-at-top
  prepare = pipeline._prepare  # pylint: disable=protected-access

  def recorded(builder, data_config):
    open(os.path.join(markers, f"prepared_by_{jax.process_index()}"),
         "w").close()
    prepare(builder, data_config)
  pipeline._prepare = recorded  # pylint: disable=protected-access
  config = device_smoke_config(source)
  config.data.data_dir = data_dir
  builder = pipeline.load_builder(config.data)
  print(f"train examples: {builder.info.splits['train'].num_examples}",
        flush=True)


if __name__ == "__main__":
  main()
