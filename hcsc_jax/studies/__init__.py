"""Seeds studies: pre-train every variant with every seed, evaluate each run
and tabulate mean ± std and paired differences (`runs`, `statistics`). The
command line is `python -m hcsc_jax.study`."""
