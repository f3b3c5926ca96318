"""The report's figures as PNG bytes (matplotlib, no display needed).

Images come in as [N, H, W, 3] floats in [0, 1]; grids are composed with
NumPy so their pixel size is exact and testable.
"""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

PAD = 2


def grid(rows: Sequence[np.ndarray]) -> np.ndarray:
  """Rows of equally sized images -> one uint8 image with PAD-pixel white
  borders; shorter rows are padded with white."""
  height, width = rows[0].shape[1:3]
  columns = max(len(r) for r in rows)
  out = np.ones((len(rows) * (height + PAD) + PAD,
                 columns * (width + PAD) + PAD, 3), np.float32)
  for i, row in enumerate(rows):
    for j, image in enumerate(row):
      top, left = PAD + i * (height + PAD), PAD + j * (width + PAD)
      out[top:top + height, left:left + width] = image
  return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def chain(rows: Sequence[np.ndarray], row_labels: Sequence[str],
          image_labels: Sequence[Sequence[str]] | None = None,
          inches: float = 0.9) -> bytes:
  """A prototype chain as a labelled figure: one row per level (its label
  on the left, e.g. 'level 2 · cluster 5'), each image shown `inches`
  wide (~72 px, whatever the data's size), its class name under it when
  known."""
  columns = max(len(r) for r in rows)
  fig, axes = plt.subplots(len(rows), columns, squeeze=False,
                           figsize=(columns * inches + 1.6,
                                    len(rows) * (inches + 0.25)))
  for i, row in enumerate(rows):
    for j in range(columns):
      ax = axes[i][j]
      ax.set_xticks([])
      ax.set_yticks([])
      for spine in ax.spines.values():
        spine.set_visible(False)
      if j < len(row):
        ax.imshow(np.clip(row[j], 0, 1), interpolation="nearest")
        if image_labels is not None and image_labels[i][j]:
          ax.set_xlabel(image_labels[i][j], fontsize=6, labelpad=1)
    axes[i][0].set_ylabel(row_labels[i], fontsize=8, rotation=0,
                          ha="right", va="center", labelpad=6)
  fig.subplots_adjust(wspace=0.05, hspace=0.35)
  return _figure_png(fig)


def png(image: np.ndarray) -> bytes:
  """uint8 HWC -> PNG bytes."""
  buffer = io.BytesIO()
  plt.imsave(buffer, image, format="png")
  return buffer.getvalue()


def _figure_png(fig) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
  plt.close(fig)
  return buffer.getvalue()


def selection_panel(queries: np.ndarray, dropped: np.ndarray,
                    dropped_p: np.ndarray, kept: np.ndarray,
                    kept_p: np.ndarray) -> bytes:
  """Per query row: the query, the negatives most likely eliminated, then
  those most likely kept, each titled with its keep-probability."""
  rows, per_side = dropped.shape[:2]
  columns = 1 + 2 * per_side
  fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.3),
                           squeeze=False)
  for r in range(rows):
    cells = ([(queries[r], "query")]
             + [(dropped[r, j], f"{dropped_p[r, j]:.2f}")
                for j in range(per_side)]
             + [(kept[r, j], f"{kept_p[r, j]:.2f}") for j in range(per_side)])
    for c, (image, title) in enumerate(cells):
      ax = axes[r, c]
      ax.imshow(np.clip(image, 0, 1))
      ax.set_title(title, fontsize=7,
                   color="red" if 0 < c <= per_side else "black")
      ax.axis("off")
  fig.suptitle("instance selection: likely false negatives (red, low keep-"
               "probability) vs kept negatives", fontsize=8)
  return _figure_png(fig)


def embedding_map(points: np.ndarray, clusters: np.ndarray,
                  labels: np.ndarray | None) -> bytes:
  """2-D map coloured by top-level cluster and, with labels, by class."""
  panels = [("top-level cluster", clusters)]
  if labels is not None and np.any(labels >= 0):
    panels.append(("class", labels))
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5),
                           squeeze=False)
  for ax, (title, colour) in zip(axes[0], panels):
    ax.scatter(points[:, 0], points[:, 1], c=colour, cmap="tab20", s=4)
    ax.set_title(f"t-SNE of head embeddings, by {title}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
  return _figure_png(fig)


def hierarchy_over_epochs(records: list[dict]) -> bytes:
  """Sizes (latest epoch), temperatures, keep ratio, purity and NMI per
  level across the recorded epochs."""
  levels = len(records[-1]["levels"])
  epochs = [r["epoch"] for r in records]
  fig, axes = plt.subplots(2, 3, figsize=(13, 7))
  ax = axes[0, 0]
  for level, info in enumerate(records[-1]["levels"]):
    ax.hist(info["sizes"], bins=30, alpha=0.5, label=f"level {level}")
  ax.set_title(f"cluster sizes, epoch {epochs[-1]}", fontsize=9)
  ax.set_xlabel("examples per cluster")
  ax.legend(fontsize=7)
  ax = axes[0, 1]
  for level in range(levels):
    temps = [np.asarray(r["levels"][level]["temperatures"]) for r in records]
    median = [np.median(t) for t in temps]
    low = [np.percentile(t, 10) for t in temps]
    high = [np.percentile(t, 90) for t in temps]
    ax.plot(epochs, median, marker="o", label=f"level {level}")
    ax.fill_between(epochs, low, high, alpha=0.2)
  ax.set_title("temperatures (median, 10-90%)", fontsize=9)
  ax.legend(fontsize=7)
  for ax, key, title in ((axes[0, 2], "keep_ratio",
                          "instance keep ratio of queue negatives"),
                         (axes[1, 0], "purity", "purity vs classes"),
                         (axes[1, 1], "nmi", "NMI vs classes")):
    for level in range(levels):
      values = [r["levels"][level].get(key) for r in records]
      if all(v is not None for v in values):
        ax.plot(epochs, values, marker="o", label=f"level {level}")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("epoch")
    if ax.lines:
      ax.legend(fontsize=7)
  ax = axes[1, 2]
  for level in range(levels):
    ax.hist(records[-1]["levels"][level]["temperatures"], bins=30, alpha=0.5,
            label=f"level {level}")
  ax.set_title(f"temperature distribution, epoch {epochs[-1]}", fontsize=9)
  ax.legend(fontsize=7)
  fig.tight_layout()
  return _figure_png(fig)
