"""Imported and run by test_packaging under tests.no_tensorflow_runner
--no_faiss: the method's modules, the model, the train step and the jax
k-means backend work on a host without TensorFlow and faiss."""

import numpy as np

from hcsc_jax import clustering
from hcsc_jax import losses  # pylint: disable=unused-import
from hcsc_jax import models  # pylint: disable=unused-import
from hcsc_jax import objective  # pylint: disable=unused-import
from hcsc_jax import selection  # pylint: disable=unused-import
from hcsc_jax.training import step  # pylint: disable=unused-import

points = np.random.default_rng(0).normal(size=(256, 8)).astype(np.float32)
points /= np.linalg.norm(points, axis=1, keepdims=True)
hierarchy = clustering.hierarchical_kmeans(points, (8, 4), niter=3, nredo=1,
                                           backend="jax")
print("levels", [len(c) for c in hierarchy.centroids], flush=True)
