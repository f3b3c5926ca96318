"""PyTorch interchange (docs/method.md §8): the checkpoint formats, the 1:1
key mapping to torchvision, and export / import on workdirs. The command
lines are `python -m hcsc_jax.export` and `.import_torch`."""
