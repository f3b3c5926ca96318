"""Benchmarks, run as `python -m hcsc_jax.benchmark --parts=...` (`run`: the
command line and the registry of parts): the method's head and the train
step (`step_parts`), clustering (`cluster_part`), the input paths, folders
and the hierarchy browser (`input_parts`, `paths_part`), plus a PyTorch
yardstick of the original step (`torch_step`) and the synthetic hierarchies
they time (`synthetic`). PyTorch is imported only by the `torch_step` part:
a benchmark and test dependency, not a runtime one."""
