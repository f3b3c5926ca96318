"""hcsc_jax: Hierarchical Contrastive Selective Coding in JAX/Flax.

The core (`method/`, models, clustering with the jax backend) imports
without TensorFlow or faiss so that accelerator hosts without them can run the
train step and the benchmarks.
"""

__version__ = "0.1.0"
