"""The package list for pyproject.toml: hcsc_jax's packages, and the
repository's top-level configs/ installed as hcsc_jax.configs (so an
installed hcsc_jax carries its configs, and a checkout keeps configs/ where
the README's commands name it)."""

from setuptools import find_packages
from setuptools import setup

CONFIGS = ["hcsc_jax.configs", "hcsc_jax.configs.eval"]

setup(packages=find_packages(include=["hcsc_jax", "hcsc_jax.*"]) + CONFIGS,
      package_dir={"hcsc_jax.configs": "configs",
                   "hcsc_jax.configs.eval": "configs/eval"})
