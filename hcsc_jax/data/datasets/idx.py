"""The idx file format of MNIST-style data sets (big-endian header, then
raw bytes), read and written with NumPy only."""

from __future__ import annotations

import gzip

import numpy as np


def read_idx(path: str) -> np.ndarray:
  """Reads a (gzipped) idx file of unsigned bytes into an array."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise ValueError(f"{path} is not an idx file of unsigned bytes.")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
                for i in range(ndim))
  payload = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if payload.size != int(np.prod(shape)):
    raise ValueError(f"{path} is truncated: header says {shape}, found "
                     f"{payload.size} bytes of data.")
  return payload.reshape(shape)


def write_idx(path: str, array: np.ndarray) -> None:
  """Writes a gzipped idx file (tests use it to make tiny sources)."""
  array = np.asarray(array, np.uint8)
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
      int(n).to_bytes(4, "big") for n in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.tobytes())
