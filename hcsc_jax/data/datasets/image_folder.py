"""A user's folder of images: scanned (`folder_index`), decoded once in
parallel into a uint8 cache file at `data.preload_size` (reused by later
runs, evaluations and the embed command), with unreadable files skipped,
counted in one line and listed with their reasons.

The cache lives in `data.cache_dir` (default ~/.cache/hcsc_jax/
image_folders), keyed by the folder, the decode size and every file's path,
size and mtime, so a changed folder is never served stale pixels. It is
written row by row into a memory-mapped file, so building it never holds
the folder in memory.

Which input path trains on it (`data.folder_input`): "memory" reads the
cache into memory and places it on the devices (batches made inside the
step); "stream" leaves it on disk and gathers each batch on the host
(`file_rows`, `streamed`); "auto" picks memory when the decoded images fit
`data.memory_budget_gb`, and logs the choice.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import time

from absl import logging
import numpy as np
import tqdm

from hcsc_jax.data.datasets import file_rows
from hcsc_jax.data.datasets import folder_index
from hcsc_jax.data.datasets import image_files
from hcsc_jax.data.datasets import registry
from hcsc_jax.errors import ConfigError

DEFAULT_CACHE = os.path.join("~", ".cache", "hcsc_jax", "image_folders")
SKIPPED_FILE = "skipped_files.tsv"
FOLDER_INPUTS = ("auto", "memory", "stream")
_BLOCK = 2048  # files decoded per batch of work handed to the threads
_CACHE_FORMAT = 2  # one row per indexed file; skipped files' rows stay zero


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
  digest.update(json.dumps([_CACHE_FORMAT, index.root, size, index.files,
                            index.sizes, index.mtimes]).encode())
  return digest.hexdigest()[:20]


def _decode_one(args):
  """(image or None, why not or None, CPU seconds this worker spent)."""
  path, size = args
  started = time.process_time()
  try:
    image, problem = image_files.decode(path, size), None
  except image_files.Unreadable as e:
    image, problem = None, str(e)
  return image, problem, time.process_time() - started


@dataclasses.dataclass
class Decoded:
  """What `decode_into` did: positions of the readable files, the skipped
  (path, why), and the CPU seconds the workers spent decoding."""
  ok: list[int]
  skipped: list[tuple[str, str]]
  cpu_s: float


def decode_into(paths: list[str], out: np.ndarray, workers: int = 0,
                description: str = "decoding") -> Decoded:
  """Decodes `paths[i]` into `out[i]` (uint8 [N, S, S, 3], e.g. a memory
  map) in parallel worker processes with a progress bar.

  Processes, because PIL's per-image Python work holds the GIL (two
  threads decode small PNGs slower than one); started by a fork server,
  never forked from this multithreaded JAX process, so a script that
  calls this needs the usual `if __name__ == "__main__":` guard."""
  size = out.shape[1]
  ok, skipped, cpu_s = [], [], 0.0
  workers = workers or min(32, os.cpu_count() or 1)
  context = multiprocessing.get_context("forkserver")
  with concurrent.futures.ProcessPoolExecutor(
      workers, mp_context=context) as pool, tqdm.tqdm(
          total=len(paths), desc=description, mininterval=1.0,
          leave=False) as progress:
    for start in range(0, len(paths), _BLOCK):  # bounded work in flight
      block = paths[start:start + _BLOCK]
      results = pool.map(_decode_one, [(p, size) for p in block],
                         chunksize=32)
      for i, (image, problem, seconds) in enumerate(results, start):
        cpu_s += seconds
        if problem is None:
          out[i] = image
          ok.append(i)
        else:
          skipped.append((paths[i], problem))
      progress.update(len(block))
  return Decoded(ok, skipped, cpu_s)


def decode_files(paths: list[str], size: int, workers: int = 0,
                 description: str = "decoding"
                 ) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
  """(images of the readable files, their positions in `paths`, skipped
  (path, why)), decoded in memory (a few files, e.g. to embed)."""
  images = np.zeros((len(paths), size, size, 3), np.uint8)
  decoded = decode_into(paths, images, workers, description)
  return images[decoded.ok], decoded.ok, decoded.skipped


def _kept(index: folder_index.FolderIndex, rows: list[int]
          ) -> folder_index.FolderIndex:
  take = np.asarray(rows, int)
  return folder_index.FolderIndex(
      index.root, [index.files[i] for i in take],
      [index.sizes[i] for i in take], [index.mtimes[i] for i in take],
      index.labels[take], index.class_names, index.held_out[take],
      index.holdout_source)


def _build_cache(index, size: int, images_path: str, record_path: str,
                 workers: int) -> dict:
  """Decodes every indexed file into the cache file (a memory map written
  beside its final name and renamed, so a killed build leaves nothing that
  looks finished); returns the cache's record."""
  partial = f"{images_path}.partial{os.getpid()}.npy"
  out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8,
                                  shape=(len(index.files), size, size, 3))
  started = time.time()
  decoded = decode_into(
      [os.path.join(index.root, p) for p in index.files], out, workers,
      f"decoding {index.root}")
  out.flush()
  del out
  os.replace(partial, images_path)
  record = {"root": index.root, "size": size, "rows": decoded.ok,
            "skipped": [(os.path.relpath(p, index.root), why)
                        for p, why in decoded.skipped],
            "decode_s": time.time() - started, "decode_cpu_s": decoded.cpu_s}
  with open(record_path + ".tmp", "w") as f:
    json.dump(record, f)
  os.replace(record_path + ".tmp", record_path)
  logging.info("image folder %s: decoded %d images at %d px into %s in "
               "%.1f s (%.1f CPU-s in the workers)", index.root,
               len(decoded.ok), size, images_path, record["decode_s"],
               decoded.cpu_s)
  return record


def input_path(data_config, num_images: int, size: int) -> str:
  """"memory" or "stream": data.folder_input, or with "auto" whichever the
  decoded images' size against data.memory_budget_gb calls for (logged)."""
  choice = data_config.folder_input
  if choice not in FOLDER_INPUTS:
    raise ConfigError(f"data.folder_input={choice!r}; choose one of "
                      f"{list(FOLDER_INPUTS)}.")
  gigabytes = num_images * size * size * 3 / 1e9
  budget = float(data_config.memory_budget_gb)
  if choice == "auto":
    choice = "memory" if gigabytes <= budget else "stream"
    why = (f"{'within' if choice == 'memory' else 'over'} "
           f"data.memory_budget_gb={budget:g}")
  else:
    why = f"data.folder_input={choice}"
  where = ("held in memory and on the devices, batches made in the step"
           if choice == "memory" else
           "streamed from the memory-mapped cache on disk, batches gathered "
           "on the host")
  logging.info("image folder: %d images at %d px = %.2f GB, %s: %s.",
               num_images, size, gigabytes, why, where)
  return choice


def load(data_config):
  """(uint8 [N, S, S, 3] images of the usable files, what was kept): a
  NumPy array on the memory path, a `file_rows.FileRows` on the stream
  path."""
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
    logging.info("image folder %s: %d images from the cache %s",
                 index.root, len(record["rows"]), images_path)
  else:
    os.makedirs(cache_dir, exist_ok=True)
    record = _build_cache(index, size, images_path, record_path,
                          data_config.threads)
  rows, skipped = record["rows"], [tuple(s) for s in record["skipped"]]
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
  stored = file_rows.FileRows(np.load(images_path, mmap_mode="r"), rows)
  if input_path(data_config, len(rows), size) == "memory":
    stored = stored[:]
  return stored, LoadedFolder(_kept(index, rows), skipped, images_path)


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


def device_splits(data_config):
  """The registry's `arrays` source: 'train' and, when images are held out,
  'test'; the third item is what the run records in its workdir."""
  images, loaded = load(data_config)
  index = loaded.index
  splits = {}
  for name in ("train", "test"):
    rows = index.split_rows(name)
    if rows.size:
      part = (images.subset(rows) if isinstance(images, file_rows.FileRows)
              else images[rows])
      splits[name] = registry.Split(part, index.labels[rows])
  return splits, index.class_names, loaded
