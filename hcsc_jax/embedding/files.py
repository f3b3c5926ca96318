"""Embedding image files (a folder, a text file listing paths, or one
image) with a workdir's encoder, prepared exactly as the run's evaluation
prepares its images: decoded as its data were
(data/datasets/image_files.py, at the run's preload size), then the run's
eval resize, centre crop and normalisation, on the devices.

Unreadable files are skipped and returned with the reason; the row order
of the features is the order of the returned paths.
"""

from __future__ import annotations

import os

import numpy as np

from hcsc_jax.data.datasets import folder_index
from hcsc_jax.data.datasets import image_files
from hcsc_jax.data.datasets import registry
from hcsc_jax.errors import ConfigError

SPLIT = "files"


def input_paths(path: str) -> list[str]:
  """The image files `path` names: a folder (searched recursively, sorted),
  a .txt list (one path a line, relative to the list's folder), or an
  image file."""
  if os.path.isdir(path):
    found = folder_index.image_paths(path)
    if not found:
      raise ConfigError(f"--input={path} holds no image file (searched "
                        f"recursively for {', '.join(image_files.EXTENSIONS)}"
                        ").")
    return [os.path.join(path, p) for p in found]
  if not os.path.exists(path):
    raise FileNotFoundError(f"--input={path} does not exist.")
  if path.lower().endswith(".txt"):
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
      lines = [line.strip() for line in f if line.strip()]
    if not lines:
      raise ConfigError(f"--input={path} lists no file.")
    return [line if os.path.isabs(line) else os.path.join(base, line)
            for line in lines]
  if image_files.is_image_name(path):
    return [path]
  raise ConfigError(f"--input={path} is neither a folder, a .txt list of "
                    "image paths, an image file nor a .npy array.")


def files_dataset(config, paths: list[str], require_some: bool = True):
  """(an in-memory dataset of the readable files, as the run `config`
  prepares its images, split SPLIT; the rows of `paths` it holds;
  skipped (path, why)); with `require_some` False, no decodable file gives
  (None, [], skipped) instead of a ConfigError."""
  from hcsc_jax.data.datasets import image_folder  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.device import in_memory  # pylint: disable=g-import-not-at-top
  if not tuple(config.data.mean):
    raise ConfigError("the run's config.json has no data.mean/std: the "
                      "run never opened its data set.")
  images, rows, skipped = image_folder.decode_files(
      paths, image_folder.preload_size(config.data), config.data.threads,
      "decoding the input")
  if not rows and require_some:
    raise ConfigError(f"none of the {len(paths)} input files could be "
                      f"decoded (first: {skipped[0][0]}: {skipped[0][1]}).")
  if not rows:
    return None, rows, skipped
  split = registry.Split(images, np.full(len(rows), -1, np.int32))
  dataset = in_memory.InMemoryDataset(config.data, loaded=({SPLIT: split},
                                                           ()))
  return dataset, rows, skipped


def embed_files(workdir: str, paths: list[str], features: str = "backbone",
                step=None, batch_size: int = 256):
  """(features [N, d] of the readable files, their paths, skipped (path,
  why), what `neighbors` needs: (state, config, model))."""
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  state, _, config, model = workdirs.restore(workdir, step)
  dataset, rows, skipped = files_dataset(config, paths)
  mesh = sharding.make_mesh()
  batch = max(1, batch_size // mesh.size) * mesh.size
  out, _ = features_lib.encoder_features(
      model, state.params, state.batch_stats, dataset, SPLIT, batch, mesh,
      features, "embedding the input")
  return (np.asarray(out, np.float32), [paths[i] for i in rows], skipped,
          (state, config, model))


def training_features(workdir: str, state, config, model, features: str):
  """(features of the run's training images, their names): folder paths,
  or `<split>/<index>`; cached in <workdir>/embeddings/ per step."""
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  sources.hide_accelerators_from_tensorflow(config.data)
  dataset = sources.open_dataset(config.data)
  split = config.data.train_split
  folder = getattr(dataset, "folder", None)
  from hcsc_jax.workdir import layout  # pylint: disable=g-import-not-at-top
  cache = layout.embeddings_cache(workdir, int(state.step),
                                  f"train_{features}", "npy")
  if os.path.exists(cache):
    train = np.load(cache)
  else:
    train, _ = features_lib.encoder_features(
        model, state.params, state.batch_stats, dataset, split,
        config.embed_batch_size, sharding.make_mesh(), features,
        "embedding the training images")
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    np.save(cache + ".tmp.npy", train)
    os.replace(cache + ".tmp.npy", cache)
  if folder is not None:
    names = [folder.index.files[i] for i in folder.index.split_rows(split)]
  else:
    names = [f"{split}/{i}" for i in range(len(train))]
  return np.asarray(train, np.float32), names


def nearest(queries: np.ndarray, train: np.ndarray, k: int
            ) -> tuple[np.ndarray, np.ndarray]:
  """(indices, cosine similarities) of each query's k nearest training
  rows, nearest first."""
  def unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  sims = unit(queries) @ unit(train).T
  k = min(k, train.shape[0])
  top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
  return top, np.take_along_axis(sims, top, axis=1)
