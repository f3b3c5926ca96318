"""The file list of a user's image folder, scanned once: relative path,
size and mtime of every image file, its label (class subfolder) when there
are labels, and whether it is held out for evaluation.

The dataset index of an image is its position in this list (sorted by
relative path), stable across restarts and processes. A run keeps the list
in its workdir (`folder_index.json`); resuming with a folder whose files
changed is refused with one line, never a silent reshuffle.

Labels (`data.labels`): "subfolders" (every image sits one level below a
class folder), "none", or "auto" (subfolders when that layout holds).
Held-out split: a sibling `test/` or `val/` folder of the images when there
is one (`<folder>/train/<class>/...` beside `<folder>/test/<class>/...`),
else `data.holdout_fraction` of the images drawn with a fixed seed
(stratified by class when labelled).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from hcsc_jax.data.datasets import image_files
from hcsc_jax.errors import ConfigError

LABEL_MODES = ("auto", "subfolders", "none")
HOLDOUT_FOLDERS = ("test", "val")
TRAIN_FOLDERS = ("train",)
INDEX_FILE = "folder_index.json"


@dataclasses.dataclass
class FolderIndex:
  root: str
  files: list[str]            # relative to root, sorted
  sizes: list[int]
  mtimes: list[float]
  labels: np.ndarray          # [N] int32, -1 without labels
  class_names: tuple[str, ...]
  held_out: np.ndarray        # [N] bool
  holdout_source: str         # "folder <name>", "fraction 0.1", "none"

  def split_rows(self, split: str) -> np.ndarray:
    """Index positions of 'train' or 'test'."""
    if split == "train":
      return np.flatnonzero(~self.held_out)
    if split == "test":
      return np.flatnonzero(self.held_out)
    raise ConfigError(f"image folders have the splits 'train' and 'test', "
                      f"not {split!r}.")

  @property
  def has_labels(self) -> bool:
    return bool(self.class_names)

  def to_json(self) -> dict:
    return {"root": self.root, "files": self.files, "sizes": self.sizes,
            "mtimes": self.mtimes, "labels": self.labels.tolist(),
            "class_names": list(self.class_names),
            "held_out": self.held_out.astype(int).tolist(),
            "holdout_source": self.holdout_source}

  @classmethod
  def from_json(cls, record: dict) -> "FolderIndex":
    return cls(record["root"], list(record["files"]), list(record["sizes"]),
               list(record["mtimes"]),
               np.asarray(record["labels"], np.int32),
               tuple(record["class_names"]),
               np.asarray(record["held_out"], bool), record["holdout_source"])


def image_paths(root: str) -> list[str]:
  """Relative paths of the image files under `root` (symlinks followed,
  a loop is an error naming it), sorted."""
  found, seen = [], set()
  for directory, subdirs, names in os.walk(root, followlinks=True):
    stat = os.stat(directory)
    key = (stat.st_dev, stat.st_ino)
    if key in seen:
      raise ConfigError(
          f"data.folder={root}: {directory} leads back to a folder already "
          "searched (a symlink loop); remove the link or point data.folder "
          "below it.")
    seen.add(key)
    subdirs.sort()
    for name in names:
      if image_files.is_image_name(name):
        found.append(os.path.relpath(os.path.join(directory, name), root))
  return sorted(found)


def _layout(root: str) -> tuple[dict[str, list[str]], str]:
  """{'train': paths, 'test': paths or []} relative to root, and where the
  held-out images come from ('folder test' or '')."""
  entries = set(os.listdir(root))
  train_dir = next((n for n in TRAIN_FOLDERS if n in entries), None)
  held_dir = next((n for n in HOLDOUT_FOLDERS if n in entries), None)
  if train_dir and held_dir:
    return ({"train": [os.path.join(train_dir, p) for p in image_paths(
        os.path.join(root, train_dir))],
             "test": [os.path.join(held_dir, p) for p in image_paths(
                 os.path.join(root, held_dir))]}, f"folder {held_dir}")
  return {"train": image_paths(root), "test": []}, ""


def _class_of(path: str, split_dir: bool) -> str | None:
  """The class folder of a relative path (below train/ or test/ when the
  folder is split), or None when the image is not one level below one."""
  parts = path.split(os.sep)
  if split_dir:
    parts = parts[1:]
  return parts[0] if len(parts) == 2 else None


def scan(root: str, labels: str = "auto", holdout_fraction: float = 0.1,
         seed: int = 0) -> FolderIndex:
  """Scans `root`; ConfigError naming the folder when it is missing, holds
  no image file, or its layout does not allow the asked labels."""
  if labels not in LABEL_MODES:
    raise ConfigError(f"data.labels={labels!r}; choose one of "
                      f"{list(LABEL_MODES)}.")
  if not root:
    raise ConfigError("data.folder is empty; pass "
                      "--config.data.folder=<folder of images>.")
  root = os.path.abspath(os.path.expanduser(root))
  if not os.path.isdir(root):
    raise ConfigError(f"data.folder={root} is not a folder"
                      + (" (it is a file)" if os.path.exists(root) else
                         " (it does not exist)") + ".")
  parts, held_source = _layout(root)
  paths = parts["train"] + parts["test"]
  if not paths:
    raise ConfigError(
        f"data.folder={root} holds no image file (searched recursively for "
        f"{', '.join(image_files.EXTENSIONS)}, any case).")
  classes = [_class_of(p, bool(held_source)) for p in paths]
  layered = all(c is not None for c in classes)
  if labels == "subfolders" and not layered:
    stray = paths[classes.index(None)]
    raise ConfigError(
        f"data.labels='subfolders' but {os.path.join(root, stray)} is not one"
        " level below a class folder; move it, or pass "
        "--config.data.labels=none.")
  use_labels = labels == "subfolders" or (labels == "auto" and layered and
                                          len(set(classes)) > 1)
  order = np.argsort(np.asarray(paths, dtype=object), kind="stable")
  paths = [paths[i] for i in order]
  held = np.zeros(len(paths), bool)
  in_test = set(parts["test"])
  held[:] = [p in in_test for p in paths]
  class_names: tuple[str, ...] = ()
  label_array = np.full(len(paths), -1, np.int32)
  if use_labels:
    names = [classes[i] for i in order]
    class_names = tuple(sorted(set(names)))
    lookup = {name: i for i, name in enumerate(class_names)}
    label_array[:] = [lookup[n] for n in names]
  if not held_source:
    held = _draw_holdout(label_array, holdout_fraction, seed)
    held_source = (f"fraction {holdout_fraction:g}" if holdout_fraction
                   else "none")
  stats = [os.stat(os.path.join(root, p)) for p in paths]
  return FolderIndex(root, paths, [s.st_size for s in stats],
                     [s.st_mtime for s in stats], label_array, class_names,
                     held, held_source)


def _draw_holdout(labels: np.ndarray, fraction: float, seed: int
                  ) -> np.ndarray:
  """A fixed-seed held-out mask: `fraction` of each class (of all images
  without labels), at least one per class when the fraction is > 0."""
  if not 0 <= fraction < 1:
    raise ConfigError(f"data.holdout_fraction={fraction} must be in [0, 1).")
  held = np.zeros(labels.size, bool)
  if not fraction:
    return held
  rng = np.random.default_rng(seed)
  for label in np.unique(labels):
    members = np.flatnonzero(labels == label)
    count = min(members.size - 1, max(1, int(round(fraction * members.size))))
    if count > 0:
      held[rng.choice(members, count, replace=False)] = True
  return held


def differences(saved: FolderIndex, current: FolderIndex) -> str | None:
  """'3 added, 1 removed, 2 changed' between two scans, or None."""
  old = dict(zip(saved.files, zip(saved.sizes, saved.mtimes)))
  new = dict(zip(current.files, zip(current.sizes, current.mtimes)))
  added = len(new.keys() - old.keys())
  removed = len(old.keys() - new.keys())
  changed = sum(1 for p in old.keys() & new.keys() if old[p] != new[p])
  if not (added or removed or changed):
    return None
  return f"{added} added, {removed} removed, {changed} changed"


def save(index: FolderIndex, path: str) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(index.to_json(), f)
  os.replace(tmp, path)


def load(path: str) -> FolderIndex:
  with open(path) as f:
    return FolderIndex.from_json(json.load(f))
