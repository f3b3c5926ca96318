"""The user's labels: CSV files with a `path` and a `label` column (the
labels_todo.csv `select` writes, the browser's export, or any such file),
matched to the images of a collection.

Rows with an empty label are images not labelled yet and are skipped;
labels keep their text exactly (commas, quotes, any language) but for
surrounding spaces. Several files may be given: a later file's label for
an image replaces an earlier one (a correction), while one file naming an
image twice with two labels is an error. Every problem ends the command
with one line naming the file, its line and the fix.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Sequence

import numpy as np

from hcsc_jax.errors import ConfigError


@dataclasses.dataclass
class UserLabels:
  rows: np.ndarray          # [L] collection rows, in the order first given
  labels: np.ndarray        # [L] index into class_names
  class_names: list[str]    # sorted
  corrected: int = 0        # labels a later file replaced


def _path_index(paths: Sequence[str], root: str | None) -> dict:
  index = {}
  for row, path in enumerate(paths):
    index[path] = row
    index.setdefault(os.path.normpath(path), row)
    if root is not None and not os.path.isabs(path):
      index.setdefault(os.path.normpath(os.path.join(root, path)), row)
  return index


def _rows_of(path: str) -> tuple[list[str], list[dict]]:
  if not os.path.isfile(path):
    raise ConfigError(f"--labels: {path} does not exist; pass the CSV you "
                      "filled in (e.g. labels_todo.csv).")
  with open(path, "rb") as f:
    raw = f.read()
  try:
    text = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b"\n") + 1
    raise ConfigError(
        f"--labels: {path} line {line} is not UTF-8 text (byte "
        f"0x{raw[e.start]:02x}); save the file as UTF-8 (a spreadsheet's "
        "'CSV UTF-8' format).") from None
  reader = csv.DictReader(text.splitlines(keepends=True))
  header = reader.fieldnames or []
  missing = [c for c in ("path", "label") if c not in header]
  if missing:
    raise ConfigError(f"--labels: {path} has no column {missing[0]!r} "
                      f"(its header: {header}); the file needs the columns "
                      "'path' and 'label'.")
  return header, list(reader)


@dataclasses.dataclass
class Given:
  """One labelled line of a file."""
  file: str
  line: int
  path: str
  label: str


def parse(files: Sequence[str]) -> list[Given]:
  """The labelled lines of `files`, checked for what needs no collection:
  the encoding, the columns, a label without a path, one file giving an
  image two labels, no label at all, a single class."""
  given: list[Given] = []
  latest: dict[str, str] = {}
  for path in files:
    _, records = _rows_of(path)
    seen: dict[str, tuple[int, str]] = {}
    for line, record in enumerate(records, start=2):
      label = (record.get("label") or "").strip()
      name = (record.get("path") or "").strip()
      if not label:
        continue
      if not name:
        raise ConfigError(f"--labels: {path} line {line} has the label "
                          f"{label!r} but no path; fill in its path or "
                          "delete the line.")
      key = os.path.normpath(name)
      if key in seen and seen[key][1] != label:
        raise ConfigError(
            f"--labels: {path} lines {seen[key][0]} and {line} give "
            f"{name!r} two labels ({seen[key][1]!r} and {label!r}); keep "
            "one of them.")
      seen[key] = (line, label)
      latest[key] = label
      given.append(Given(path, line, name, label))
  if not given:
    raise ConfigError(f"--labels: no labels in {', '.join(files)} (the "
                      "'label' column is empty); fill in the label of some "
                      "images of at least two classes.")
  names = sorted(set(latest.values()))
  if len(names) < 2:
    raise ConfigError(f"--labels: every label in {', '.join(files)} is "
                      f"{names[0]!r}; label images of at least two classes "
                      "so that there is something to tell apart.")
  return given


def match(given: Sequence[Given], paths: Sequence[str],
          root: str | None = None, what: str = "this collection"
          ) -> UserLabels:
  """The parsed labels as collection rows; relative paths may also be
  relative to `root` (an image folder). A path outside the collection is
  an error naming its file and line."""
  index = _path_index(paths, root)
  labels: dict[int, str] = {}
  order: list[int] = []
  corrected = 0
  for g in given:
    row = index.get(g.path, index.get(os.path.normpath(g.path)))
    if row is None:
      example = paths[0] if paths else ""
      raise ConfigError(
          f"--labels: {g.file} line {g.line}: {g.path!r} is not an image of "
          f"{what}; use the paths select and predict write (e.g. "
          f"{example!r}), or delete the line.")
    if row in labels and labels[row] != g.label:
      corrected += 1
    if row not in labels:
      order.append(row)
    labels[row] = g.label
  names = sorted(set(labels.values()))
  number = {name: i for i, name in enumerate(names)}
  return UserLabels(np.asarray(order, np.int64),
                    np.asarray([number[labels[r]] for r in order], np.int64),
                    names, corrected)


def read(files: Sequence[str], paths: Sequence[str],
         root: str | None = None, what: str = "this collection"
         ) -> UserLabels:
  return match(parse(files), paths, root, what)
