"""XLA:CPU settings the CPU runs are faster with, applied before JAX starts.

jaxlib 0.10's XLA:CPU runs convolutions as YNNPACK fusions by default; on
the demo's narrow ResNet-18 (batch 128, 28 px) turning that off made the
train step 1.35x faster on a 2-core Xeon (BENCHMARKS.md, "CPU step").
Applied only where it was measured (jaxlib 0.10.x; an unknown flag would
abort XLA elsewhere), never over a user's own setting of the flag;
HCSC_CPU_CONVOLUTIONS=ynnpack keeps XLA's default.
"""

from __future__ import annotations

import importlib.metadata
import os

FLAG = "--xla_cpu_experimental_ynn_fusion_type"
SETTING = f"{FLAG}=-individual_convolution"


def apply_defaults(env=None) -> bool:
  """Adds SETTING to XLA_FLAGS in `env` (os.environ); returns whether."""
  env = os.environ if env is None else env
  if env.get("HCSC_CPU_CONVOLUTIONS", "") == "ynnpack":
    return False
  flags = env.get("XLA_FLAGS", "")
  if FLAG in flags:
    return False
  try:
    version = importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:
    return False
  if not version.startswith("0.10."):
    return False
  env["XLA_FLAGS"] = f"{flags} {SETTING}".strip()
  return True
