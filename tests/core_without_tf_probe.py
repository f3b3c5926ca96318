"""Imported and run by test_packaging under tests.no_tensorflow_runner
--no_faiss: every module of `hcsc_jax.method`, the stable import paths, the
model, the train step and the jax k-means backend work on a host without
TensorFlow and faiss."""

import importlib
import pkgutil

import numpy as np

from hcsc_jax.clustering import hierarchical as clustering
from hcsc_jax import losses  # pylint: disable=unused-import
from hcsc_jax import method
from hcsc_jax import models  # pylint: disable=unused-import
from hcsc_jax import selection  # pylint: disable=unused-import
from hcsc_jax.engine import step  # pylint: disable=unused-import

for module in pkgutil.iter_modules(method.__path__):
  importlib.import_module(f"hcsc_jax.method.{module.name}")
print("method modules", sorted(m.name for m in
                               pkgutil.iter_modules(method.__path__)),
      flush=True)

points = np.random.default_rng(0).normal(size=(256, 8)).astype(np.float32)
points /= np.linalg.norm(points, axis=1, keepdims=True)
hierarchy = clustering.hierarchical_kmeans(points, (8, 4), niter=3, nredo=1,
                                           backend="jax")
print("levels", [len(c) for c in hierarchy.centroids], flush=True)
