"""The first thing every command does (and XLA:CPU's defaults): until a trainer installs its
checkpointing stop (runtime/preemption.py), Ctrl-C ends the command at once
with one line and exit status 130, never a traceback from whatever module
was importing or computing.

That is safe because nothing a command writes looks complete before it is:
checkpoints are renamed into place by orbax, outputs by
runtime/output_files.py.
"""

from __future__ import annotations

import os
import signal

EXIT_INTERRUPTED = 130


def _interrupted(signum, frame):  # pylint: disable=unused-argument
  os.write(2, b"interrupted: stopped by Ctrl-C; no output file was left "
           b"half-written. Rerun the same command to start again (training "
           b"resumes from its last checkpoint).\n")
  os._exit(EXIT_INTERRUPTED)  # pylint: disable=protected-access


def begin() -> None:
  """Ctrl-C -> one line, exit 130 (main thread only, where signals land);
  XLA:CPU's faster settings (runtime/xla_cpu.py) before JAX starts; a
  `--config=` without such a file read from the packaged configs
  (runtime/config_paths.py)."""
  import sys  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import config_paths  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import xla_cpu  # pylint: disable=g-import-not-at-top
  if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _interrupted)
  xla_cpu.apply_defaults()
  sys.argv[1:] = config_paths.resolve(sys.argv[1:])
