"""Benchmarks, run as `python -m hcsc_jax.benchmark --parts=...` (`run`):
the method's head, the train step, clustering, the input paths, folders and
the hierarchy browser, plus a PyTorch yardstick of the original step
(`torch_step`) and the synthetic hierarchies they time (`synthetic`).
PyTorch is imported only by the `torch_step` part: a benchmark and test
dependency, not a runtime one."""
