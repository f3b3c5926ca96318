"""`python -m hcsc_jax.benchmark`: see hcsc_jax/benchmark/run.py."""

from hcsc_jax.runtime import startup

startup.begin()  # Ctrl-C from here on: one line, exit 130

from hcsc_jax.benchmark import run  # pylint: disable=g-import-not-at-top,wrong-import-position

run.main()
