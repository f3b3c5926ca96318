"""Running the GPU launchers' dry runs from the tests."""

import os
import subprocess
import sys

from tests import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gpu_evidence(out, work, data_dir, *extra) -> subprocess.CompletedProcess:
  """`launch/gpu_evidence.sh --dry_run` as on a bare GPU host: one device,
  and every Python process it starts finds neither TensorFlow, TFDS nor
  faiss (tests/bare_gpu_host)."""
  bare_host = os.path.join(ROOT, "tests", "bare_gpu_host")
  return subprocess.run(
      ["bash", "launch/gpu_evidence.sh", "--dry_run", f"--out={out}",
       f"--work={work}", f"--data_dir={data_dir}", *extra], cwd=ROOT,
      capture_output=True, text=True, check=False, timeout=1800,
      env=dict(os.environ, HCSC_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([bare_host, ROOT]),
               XLA_FLAGS=xla_flags.flags(1)))
