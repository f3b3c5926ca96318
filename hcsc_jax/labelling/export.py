"""The labelled collection written out: a CSV, and a tree of class folders
(`<output>/<class>/<file>`) that configs/image_folder.py trains on, its
files links to the originals (or copies). Which images go in: the human
labels only, those plus the predictions estimated >= 95% precise
(`confident`, the default), or every prediction. The tree appears whole
or not at all: it is built beside the output folder, then renamed.
"""

from __future__ import annotations

import csv
import os
import shutil

from hcsc_jax.errors import ConfigError

CHOICES = ("human", "confident", "all")
_UNSAFE = str.maketrans({c: "_" for c in '/\\\0:*?"<>|'})


def folder_name(label: str) -> str:
  """A class label as a folder name (path separators and characters
  some file systems refuse become _)."""
  name = label.translate(_UNSAFE).strip()
  return "_" + name if name in ("", ".", "..") else name


def read_predictions(path: str) -> list[dict]:
  if not os.path.isfile(path):
    raise ConfigError(f"--predictions={path} does not exist; run "
                      "python -m hcsc_jax.predict first.")
  try:
    with open(path, encoding="utf-8-sig", newline="") as f:
      rows = list(csv.DictReader(f))
  except UnicodeDecodeError:
    raise ConfigError(f"--predictions={path} is not UTF-8 text; pass the "
                      "file predict wrote.") from None
  needed = {"path", "label", "source", "confidence"}
  if not rows or not needed <= set(rows[0]):
    raise ConfigError(f"--predictions={path} lacks the columns "
                      f"{sorted(needed)}; pass the file predict wrote.")
  return rows


def chosen(rows: list[dict], include: str, threshold) -> list[dict]:
  if include not in CHOICES:
    raise ConfigError(f"--include={include!r}; choose one of "
                      f"{list(CHOICES)}.")
  if include == "all":
    return rows
  if include == "confident" and threshold is None:
    raise ConfigError("--include=confident needs the 95%-precision "
                      "threshold, and predict could not estimate one (too "
                      "few labels); pass --min_confidence or "
                      "--include=human.")
  out = []
  for row in rows:
    if row["source"] == "human" or (
        include == "confident" and float(row["confidence"]) >= threshold):
      out.append(row)
  return out


def _source(path: str, root: str | None) -> str:
  if os.path.isabs(path):
    return path
  if root is None:
    raise ConfigError(f"{path!r} is relative and the image folder is not "
                      "known; pass --root=<the folder the paths are in>.")
  return os.path.join(root, path)


def write_tree(rows: list[dict], output: str, root: str | None,
               copy: bool = False) -> dict:
  """`<output>/<class>/<file>` for every row plus `<output>/labels.csv`;
  {class: count}."""
  output = os.path.abspath(output)
  if os.path.exists(output) and (not os.path.isdir(output)
                                 or os.listdir(output)):
    raise ConfigError(f"--output={output} exists and is not an empty "
                      "folder; choose a new folder.")
  folders: dict[str, str] = {}
  for row in rows:
    name = folder_name(row["label"])
    if folders.setdefault(name, row["label"]) != row["label"]:
      raise ConfigError(f"the labels {folders[name]!r} and {row['label']!r}"
                        f" both become the folder {name!r}; rename one.")
  sources = []
  for row in rows:
    source = _source(row["path"], root)
    if not os.path.isfile(source):
      raise ConfigError(f"{source} (the image of {row['path']!r}) is not a "
                        "file: export needs image files; for Fashion-MNIST "
                        "train on a folder (write_fashion_mnist_folder).")
    sources.append(source)
  parent = os.path.dirname(output)
  os.makedirs(parent, exist_ok=True)
  staging = os.path.join(parent, f".{os.path.basename(output)}.partial"
                         f"{os.getpid()}")
  counts: dict[str, int] = {}
  try:
    os.makedirs(staging)
    with open(os.path.join(staging, "labels.csv"), "w", newline="",
              encoding="utf-8") as f:
      writer = csv.writer(f)
      writer.writerow(["path", "label", "source", "confidence", "file"])
      for row, source in zip(rows, sources):
        folder = folder_name(row["label"])
        flat = row["path"].replace("\\", "/").strip("/").replace("/", "__")
        target = os.path.join(folder, flat)
        os.makedirs(os.path.join(staging, folder), exist_ok=True)
        if copy:
          shutil.copy2(source, os.path.join(staging, target))
        else:
          os.symlink(os.path.abspath(source), os.path.join(staging, target))
        writer.writerow([row["path"], row["label"], row["source"],
                         row["confidence"], target])
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    if os.path.isdir(output):
      os.rmdir(output)
    os.replace(staging, output)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return counts
