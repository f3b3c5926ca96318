"""Images that stay on disk: a row view of a memory-mapped uint8 cache, so
a folder larger than memory is read a batch at a time (the page cache
keeps what fits). Indexing reads; `subset` composes without reading."""

from __future__ import annotations

import numpy as np


class FileRows:
  """Rows `rows` of a memory-mapped [M, H, W, C] uint8 array, read on
  indexing: `view[i]` (int, slice or int array) returns a NumPy copy."""

  def __init__(self, source: np.ndarray, rows):
    self.source = source
    self.rows = np.asarray(rows, np.int64)
    self.shape = (len(self.rows),) + tuple(source.shape[1:])
    self.dtype = source.dtype
    self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize

  def __len__(self) -> int:
    return len(self.rows)

  def subset(self, positions) -> "FileRows":
    """The view of some of this view's rows, nothing read."""
    return FileRows(self.source, self.rows[np.asarray(positions, np.int64)])

  def __getitem__(self, key) -> np.ndarray:
    wanted = self.rows[key]
    if np.ndim(wanted) == 0:
      return np.asarray(self.source[int(wanted)])
    order = np.argsort(wanted, kind="stable")  # read the file front to back
    out = np.empty((len(wanted),) + self.shape[1:], self.dtype)
    out[order] = self.source[wanted[order]]
    return out

  def __array__(self, dtype=None, copy=None):
    del copy
    out = self[:]
    return out if dtype is None else out.astype(dtype)
