"""Embedding with a workdir's encoder outside training: NumPy batches
(`arrays`) and image files or folders, with nearest training images
(`files`). The command line is `python -m hcsc_jax.embed`."""
