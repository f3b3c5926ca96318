"""The XLA flags of every test process, the pytest one and the children it
starts. The tests' programs are tiny, so XLA:CPU compilation is most of
their time; LLVM at -O0 compiles them about a third faster. The commands
and benchmarks keep XLA's default optimisation level."""

FAST_COMPILE = "--xla_backend_optimization_level=0"


def flags(device_count: int, existing: str = "") -> str:
  """XLA_FLAGS for `device_count` simulated CPU devices."""
  return " ".join(part for part in (
      existing, f"--xla_force_host_platform_device_count={device_count}",
      FAST_COMPILE) if part)
