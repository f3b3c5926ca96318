"""Embedding a NumPy batch with a workdir's encoder (`python -m
hcsc_jax.embed --input=<images.npy>`): the input read with one clear line
when it is not an NHWC array, the features written atomically. The same
batch through the exported PyTorch model gives the same numbers, which is
how a conversion can be checked by hand."""

from __future__ import annotations

import os
import sys

import jax
import numpy as np

from hcsc_jax.runtime import output_files
from hcsc_jax.workdir import restore as workdirs


def save_features(features: np.ndarray, output: str) -> str:
  """`output` (.npy added when missing, as np.save does), written
  atomically; returns the path written."""
  if not output.endswith(".npy"):
    output += ".npy"
  output = output_files.prepare(output)
  with output_files.atomic_path(output) as tmp:
    with open(tmp, "wb") as f:
      np.save(f, features)
  return output


def load_embed_input(path: str) -> np.ndarray:
  """The input array, or one line saying what the file is instead."""
  if os.path.isdir(path):
    raise ValueError(f"--input={path} is a folder; pass one .npy file holding "
                     "an NHWC batch (numpy.save).")
  if not os.path.exists(path):
    raise FileNotFoundError(f"--input={path} does not exist.")
  try:
    images = np.load(path, allow_pickle=False)
  except (ValueError, OSError) as e:
    raise ValueError(
        f"--input={path} is not a NumPy .npy array ({' '.join(str(e).split())}"
        "); save the already-normalised NHWC float32 batch with "
        "numpy.save.") from None
  if not isinstance(images, np.ndarray) or not np.issubdtype(images.dtype,
                                                               np.number):
    raise ValueError(f"--input={path} does not hold a numeric array.")
  if images.dtype == np.uint8:
    print(f"warning: --input={path} is uint8: the encoder expects images "
          "already normalised with the training mean/std; embedding the "
          "values as given.", file=sys.stderr)
  return images.astype(np.float32)


def embed_images(workdir: str, images: np.ndarray,
                 features: str = "backbone", step=None,
                 batch_size: int = 256) -> np.ndarray:
  """The `hcsc_jax.embed` command: a workdir's encoder on an NHWC batch
  (already normalised), as `backbone` features or `head` embeddings."""
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"input must be NHWC with 3 channels, got shape "
                     f"{images.shape}.")
  if images.shape[0] == 0:
    raise ValueError("the input holds no images (0 rows).")
  if not np.all(np.isfinite(images)):
    raise ValueError(f"the input holds {int(np.sum(~np.isfinite(images)))} "
                     "NaN or infinite values; embed only finite, normalised "
                     "images.")
  state, _, _, model = workdirs.restore(workdir, step)
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  apply = jax.jit(lambda v, x: model.apply(v, x, train=False,
                                           output=features))
  out = [np.asarray(apply(variables, images[i:i + batch_size]))
         for i in range(0, images.shape[0], batch_size)]
  return np.concatenate(out).astype(np.float32)
