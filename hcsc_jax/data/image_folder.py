"""A user's folder of images on the in-memory device path: scanned
(`folder_index`), decoded once in parallel into a uint8 cache at
`data.preload_size` (reused by later runs, evaluations and the embed
command), with unreadable files skipped, counted in one line and listed
with their reasons.

The cache lives in `data.cache_dir` (default ~/.cache/hcsc_jax/
image_folders), keyed by the folder, the decode size and every file's path,
size and mtime, so a changed folder is never served stale pixels.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os

from absl import logging
import numpy as np
import tqdm

from hcsc_jax.data import folder_index
from hcsc_jax.data import image_files
from hcsc_jax.errors import ConfigError

DEFAULT_CACHE = os.path.join("~", ".cache", "hcsc_jax", "image_folders")
SKIPPED_FILE = "skipped_files.tsv"


@dataclasses.dataclass
class LoadedFolder:
  """What a run keeps of its folder: the index of the usable images (the
  dataset indices) and the files skipped, with why."""
  index: folder_index.FolderIndex
  skipped: list[tuple[str, str]]
  cache_path: str


def preload_size(data_config) -> int:
  """The stored square size: data.preload_size, else the eval resize."""
  return int(data_config.preload_size or data_config.eval_resize
             or data_config.image_size)


def _cache_key(index: folder_index.FolderIndex, size: int) -> str:
  digest = hashlib.sha256()
  digest.update(json.dumps([index.root, size, index.files, index.sizes,
                            index.mtimes]).encode())
  return digest.hexdigest()[:20]


def _decode_one(args):
  path, size = args
  try:
    return image_files.decode(path, size), None
  except image_files.Unreadable as e:
    return None, str(e)


def decode_files(paths: list[str], size: int, workers: int = 0,
                 description: str = "decoding"
                 ) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
  """(images of the readable files, their positions in `paths`, skipped
  (path, why)), decoded in parallel processes with a progress bar."""
  images = np.zeros((len(paths), size, size, 3), np.uint8)
  ok = np.zeros(len(paths), bool)
  skipped = []
  workers = workers or min(32, os.cpu_count() or 1)
  with concurrent.futures.ProcessPoolExecutor(workers) as pool:
    results = pool.map(_decode_one, [(p, size) for p in paths], chunksize=64)
    for i, (image, problem) in enumerate(tqdm.tqdm(
        results, total=len(paths), desc=description, mininterval=1.0,
        leave=False)):
      if problem is None:
        images[i] = image
        ok[i] = True
      else:
        skipped.append((paths[i], problem))
  return images[ok], np.flatnonzero(ok).tolist(), skipped


def _kept(index: folder_index.FolderIndex, rows: list[int]
          ) -> folder_index.FolderIndex:
  take = np.asarray(rows, int)
  return folder_index.FolderIndex(
      index.root, [index.files[i] for i in take],
      [index.sizes[i] for i in take], [index.mtimes[i] for i in take],
      index.labels[take], index.class_names, index.held_out[take],
      index.holdout_source)


def load(data_config) -> tuple[np.ndarray, LoadedFolder]:
  """(uint8 [N, S, S, 3] images of the usable files, what was kept)."""
  index = folder_index.scan(data_config.folder, data_config.labels,
                            data_config.holdout_fraction,
                            data_config.holdout_seed)
  size = preload_size(data_config)
  cache_dir = os.path.expanduser(data_config.cache_dir or DEFAULT_CACHE)
  key = _cache_key(index, size)
  images_path = os.path.join(cache_dir, f"{key}.npy")
  record_path = os.path.join(cache_dir, f"{key}.json")
  if os.path.exists(images_path) and os.path.exists(record_path):
    with open(record_path) as f:
      record = json.load(f)
    images = np.load(images_path, mmap_mode="r")
    rows, skipped = record["rows"], [tuple(s) for s in record["skipped"]]
    logging.info("image folder %s: %d images from the cache %s",
                 index.root, len(rows), images_path)
  else:
    images, rows, skipped = decode_files(
        [os.path.join(index.root, p) for p in index.files], size,
        data_config.threads, f"decoding {index.root}")
    skipped = [(os.path.relpath(p, index.root), why) for p, why in skipped]
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{images_path}.tmp{os.getpid()}.npy"
    np.save(tmp, images)
    os.replace(tmp, images_path)
    with open(record_path + ".tmp", "w") as f:
      json.dump({"root": index.root, "size": size, "rows": rows,
                 "skipped": skipped}, f)
    os.replace(record_path + ".tmp", record_path)
    logging.info("image folder %s: decoded %d images at %d px into %s",
                 index.root, len(rows), size, images_path)
  if not rows:
    raise ConfigError(
        f"data.folder={index.root}: none of its {len(index.files)} image "
        f"files could be decoded (first: {skipped[0][0]}: {skipped[0][1]}).")
  if skipped:
    logging.warning(
        "image folder %s: skipped %d of %d files that are not usable images "
        "(listed with the reason in <workdir>/%s); first: %s (%s).",
        index.root, len(skipped), len(index.files), SKIPPED_FILE,
        skipped[0][0], skipped[0][1])
  return np.asarray(images), LoadedFolder(_kept(index, rows), skipped,
                                          images_path)


def write_workdir_records(loaded: LoadedFolder, workdir: str,
                          resuming: bool) -> None:
  """The run's index and skip list in its workdir; on resume, a folder
  whose files changed since the index was written is refused."""
  path = os.path.join(workdir, folder_index.INDEX_FILE)
  if resuming and os.path.exists(path):
    saved = folder_index.load(path)
    changed = folder_index.differences(saved, loaded.index)
    if saved.root != loaded.index.root or changed:
      raise ConfigError(
          f"data.folder={loaded.index.root} changed since this run indexed "
          f"{saved.root} ({changed or 'another folder'}): resuming would "
          "reorder the dataset indices. Start a new run on the folder as it "
          "is now with another --workdir (or restore the files).")
  else:
    folder_index.save(loaded.index, path)
  with open(os.path.join(workdir, SKIPPED_FILE), "w") as f:
    f.write("path\treason\n")
    for name, reason in loaded.skipped:
      f.write(f"{name}\t{reason}\n")
