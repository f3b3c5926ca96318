"""Counted FLOPs of a jitted function and the model FLOP utilisation (MFU)
they give at a measured time, so a step's speed reads against the chip's
peak and not only as pairs/s."""

from __future__ import annotations

# Dense peak FLOP/s per chip by jax's device_kind (vendor datasheets, no
# sparsity). Only chips whose peak for the dtype is known get an MFU.
PEAK_FLOPS = {
    ("NVIDIA H100 80GB HBM3", "bfloat16"): 989e12,
    ("NVIDIA H100", "bfloat16"): 989e12,
    ("NVIDIA H200", "bfloat16"): 989e12,
    ("NVIDIA A100-SXM4-80GB", "bfloat16"): 312e12,
    ("NVIDIA A100-SXM4-40GB", "bfloat16"): 312e12,
    ("TPU v4", "bfloat16"): 275e12,
    ("TPU v5p", "bfloat16"): 459e12,
}


def counted_flops(jitted, *args) -> float | None:
  """XLA's count of the FLOPs of one call of `jitted` on `args`, from its
  lowering (no second compilation); None where the backend counts none."""
  analysis = jitted.lower(*args).cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax: one dict per program
    analysis = analysis[0] if analysis else None
  flops = (analysis or {}).get("flops")
  return float(flops) if flops and flops > 0 else None


def peak_flops(device_kind: str, dtype: str, devices: int) -> float | None:
  """The peak FLOP/s of `devices` chips of `device_kind` in `dtype`."""
  peak = PEAK_FLOPS.get((device_kind, dtype))
  return None if peak is None else peak * devices


def utilisation(flops: float | None, seconds: float, device_kind: str,
                dtype: str, devices: int) -> dict[str, float]:
  """{'step_gflop', 'step_tflop_per_s', 'mfu'} for what is known."""
  if flops is None:
    return {}
  out = {"step_gflop": flops / 1e9,
         "step_tflop_per_s": flops / seconds / 1e12}
  peak = peak_flops(device_kind, dtype, devices)
  if peak is not None:
    out["mfu"] = flops / seconds / peak
  return out
