"""One process of the 2-process localhost test (tests/test_multiprocess.py).

  python -m tests.multiprocess_runner <workdir> <data_dir> <source_dir>

with HCSC_COORDINATOR, HCSC_NUM_PROCESSES and HCSC_PROCESS_ID set. Trains
the smoke config with 2 data shards on 4 CPU devices per process and writes
`process_<i>.npz` (parameters and hierarchy) into the workdir.
"""

import os
import sys

os.environ["JAX_PLATFORMS"] = "cpu"
from tests import xla_flags  # pylint: disable=wrong-import-position
os.environ["XLA_FLAGS"] = xla_flags.flags(4)
from hcsc_jax.runtime import xla_cpu  # pylint: disable=wrong-import-position
xla_cpu.apply_defaults()  # as the commands and the tests do


def main() -> None:
  workdir, data_dir, source = sys.argv[1:4]
  from hcsc_jax.runtime import distributed  # pylint: disable=g-import-not-at-top
  assert distributed.initialize_from_environment()
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from tests.test_multiprocess import config_for  # pylint: disable=g-import-not-at-top
  config = config_for(data_dir, source)
  summary = train.train_and_evaluate(config, workdir)
  run = train.Run(config, workdir)
  state = jax.device_get(run.state)
  leaves = jax.tree.leaves((state.params, state.key_params, state.queue,
                            state.batch_stats, state.hierarchy))
  np.savez(os.path.join(workdir, f"process_{jax.process_index()}.npz"),
           *leaves)
  print(train.final_line(summary), flush=True)


if __name__ == "__main__":
  main()
