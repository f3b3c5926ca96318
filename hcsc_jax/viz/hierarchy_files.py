"""What a user keeps of the hierarchy HCSC built of their images: one row
per image (`assignments.csv`), the prototypes with parents, sizes and most
central members (`tree.json`), and thumbnails as sprite sheets for the
offline browser (`hierarchy_browser.py`).

Cluster ids are the checkpoint's own hierarchy (what the last clustering
assigned each training image, level by level; images held out of training
go to their nearest prototypes and are marked `held_out`); the similarity of an image to its
prototype is computed from its embedding by the checkpoint's key encoder,
in the space the hierarchy lives in.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os

import numpy as np

THUMB = 48           # thumbnail side in pixels
SHEET_TILES = 32     # a sheet holds 32 x 32 thumbnails
CENTRAL = 8          # most central members listed per prototype


@dataclasses.dataclass
class ImageHierarchy:
  paths: list[str]                 # one per image, dataset order
  labels: list[str]                # class name or '' per image
  assignments: list[np.ndarray]    # per level [N] cluster id
  similarities: list[np.ndarray]   # per level [N] cosine to its prototype
  parents: list[np.ndarray]        # per level but the top [M_l] parent id
  class_names: tuple[str, ...]
  held_out: np.ndarray             # [N] bool: placed, not clustered


def build(collection) -> ImageHierarchy:
  """From an embedding.collection.Collection: the checkpoint's own
  assignments for training images, nearest prototypes for held-out ones."""
  names = collection.class_names
  labels = [names[int(y)] if y >= 0 and names else ""
            for y in collection.labels]
  return ImageHierarchy(list(collection.paths), labels,
                        collection.assignments, collection.similarities,
                        collection.parents, tuple(names),
                        np.asarray(collection.held_out, bool))


def write_assignments(tree: ImageHierarchy, path: str) -> None:
  levels = range(len(tree.assignments))
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["path"] + [f"level{l}_cluster" for l in levels]
                    + [f"level{l}_similarity" for l in levels]
                    + ["label", "held_out"])
    for i, name in enumerate(tree.paths):
      writer.writerow([name] + [int(tree.assignments[l][i]) for l in levels]
                      + [f"{tree.similarities[l][i]:.4f}" for l in levels]
                      + [tree.labels[i], int(tree.held_out[i])])


def tree_record(tree: ImageHierarchy) -> dict:
  """Every prototype: id, parent (None at the top), size, and its members'
  indices, most central first (the browser pages through them)."""
  levels = []
  for level, assigned in enumerate(tree.assignments):
    count = (int(tree.parents[level].shape[0]) if level < len(tree.parents)
             else int(assigned.max()) + 1)
    count = max(count, int(assigned.max()) + 1)
    order = np.lexsort((-tree.similarities[level], assigned))
    members = np.split(order, np.cumsum(np.bincount(assigned,
                                                    minlength=count))[:-1])
    prototypes = []
    for cluster in range(count):
      rows = members[cluster]
      parent = (int(tree.parents[level][cluster])
                if level < len(tree.parents) else None)
      prototypes.append({"id": cluster, "parent": parent,
                         "size": int(rows.size),
                         "members": rows.tolist(),
                         "central": [tree.paths[i] for i in rows[:CENTRAL]]})
    levels.append({"level": level, "prototypes": prototypes})
  return {"num_images": len(tree.paths), "class_names":
          list(tree.class_names), "levels": levels}


def write_tree(record: dict, path: str) -> None:
  with open(path, "w", encoding="utf-8") as f:
    json.dump(record, f)


def write_sprites(images: np.ndarray, directory: str) -> int:
  """uint8 [N, H, W, C] -> thumbs/sheet_<k>.png of THUMB-px tiles, row-major
  by dataset index; returns the number of sheets."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(directory, exist_ok=True)
  per_sheet = SHEET_TILES * SHEET_TILES
  sheets = -(-len(images) // per_sheet)
  for sheet in range(sheets):
    block = images[sheet * per_sheet:(sheet + 1) * per_sheet]
    canvas = Image.new("RGB", (SHEET_TILES * THUMB, SHEET_TILES * THUMB),
                       (255, 255, 255))
    for j, pixels in enumerate(block):
      pixels = np.asarray(pixels)
      if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
      tile = Image.fromarray(pixels.astype(np.uint8)).resize(
          (THUMB, THUMB), Image.Resampling.BILINEAR)
      canvas.paste(tile, ((j % SHEET_TILES) * THUMB,
                          (j // SHEET_TILES) * THUMB))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    with open(os.path.join(directory, f"sheet_{sheet}.png"), "wb") as f:
      f.write(buffer.getvalue())
  return sheets
