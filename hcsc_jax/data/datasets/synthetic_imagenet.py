"""A miniature ImageNet in the official layout, for the input benchmark and
the tests: `ILSVRC2012_img_train.tar` holding one `<synset>.tar` of JPEGs
per class, and `ILSVRC2012_img_val.tar` with the official validation file
names (`ILSVRC2012_val_00000001.JPEG`, ...), so TFDS's `imagenet2012` (and,
with the shipped subset lists, `imagenet2012_subset`) prepares it from
`manual_dir` exactly as it prepares the real one.

Images are photo-like: 500x375 or 375x500, smooth multi-scale structure,
shapes with edges and fine texture, encoded at JPEG quality 90 to about
100-120 KB each, which is what ImageNet's decode cost depends on. Some
files can be written as CMYK or grayscale JPEGs (ImageNet has both) or as
a PNG behind a .JPEG name.
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw

SIZES = ((375, 500), (500, 375))  # (height, width), ImageNet's commonest


def photo_like(rng: np.random.Generator, height: int, width: int
               ) -> np.ndarray:
  """[height, width, 3] uint8 with photo-like spatial statistics."""
  canvas = np.zeros((height, width, 3), np.float32)
  for octave in range(7):
    cells = 2 ** (octave + 1)
    coarse = rng.random((cells + 1, int(cells * width / height) + 1, 3))
    layer = Image.fromarray((coarse * 255).astype(np.uint8)).resize(
        (width, height), Image.BICUBIC)
    canvas += np.asarray(layer, np.float32) / 255.0 * (0.6 ** octave)
  canvas = (canvas - canvas.min()) / max(float(np.ptp(canvas)), 1e-6)
  image = Image.fromarray((canvas * 255).astype(np.uint8))
  draw = ImageDraw.Draw(image)
  for _ in range(int(rng.integers(3, 9))):
    box = sorted(rng.integers(0, width, 2)), sorted(rng.integers(0, height, 2))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    shape = (box[0][0], box[1][0], box[0][1] + 1, box[1][1] + 1)
    if rng.random() < 0.5:
      draw.ellipse(shape, fill=colour)
    else:
      draw.rectangle(shape, fill=colour)
  pixels = np.asarray(image, np.float32) / 255.0
  pixels += 0.085 * rng.standard_normal(pixels.shape).astype(np.float32)
  return (np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8)


def encode(pixels: np.ndarray, kind: str = "rgb") -> bytes:
  """JPEG bytes (kind "rgb", "cmyk", "gray") or PNG bytes ("png")."""
  image = Image.fromarray(pixels)
  buffer = io.BytesIO()
  if kind == "png":
    image.save(buffer, "PNG")
  else:
    mode = {"rgb": "RGB", "cmyk": "CMYK", "gray": "L"}[kind]
    image.convert(mode).save(buffer, "JPEG", quality=90)
  return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  archive.addfile(info, io.BytesIO(data))


def write_layout(root: str, train_names: dict[str, Sequence[str]],
                 val_count: int, seed: int = 0,
                 kinds: dict[str, str] | None = None,
                 sizes: Sequence[tuple[int, int]] = SIZES) -> dict[str, int]:
  """Writes the two official tars under `root`; `train_names` maps each
  synset to its file names (e.g. from the 1% subset list), `kinds` maps a
  file name to "cmyk", "gray" or "png" (default "rgb"), `sizes` are the
  (height, width) drawn from. Returns {"files": count, "bytes": total
  JPEG/PNG bytes}."""
  rng = np.random.default_rng(seed)
  kinds = kinds or {}
  os.makedirs(root, exist_ok=True)
  count = total = 0

  def image_bytes(name):
    nonlocal count, total
    height, width = sizes[int(rng.integers(len(sizes)))]
    data = encode(photo_like(rng, height, width), kinds.get(name, "rgb"))
    count, total = count + 1, total + len(data)
    return data

  with tarfile.open(os.path.join(root, "ILSVRC2012_img_train.tar"),
                    "w") as outer:
    for synset, names in train_names.items():
      inner_bytes = io.BytesIO()
      with tarfile.open(fileobj=inner_bytes, mode="w") as inner:
        for name in names:
          _add(inner, name, image_bytes(name))
      _add(outer, f"{synset}.tar", inner_bytes.getvalue())
  with tarfile.open(os.path.join(root, "ILSVRC2012_img_val.tar"),
                    "w") as val:
    for i in range(1, val_count + 1):
      name = f"ILSVRC2012_val_{i:08d}.JPEG"
      _add(val, name, image_bytes(name))
  return {"files": count, "bytes": total}


def subset_list(name: str = "1percent") -> list[str]:
  """The file names of a shipped SimCLR subset list."""
  import gzip  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(__file__), "imagenet_subsets",
                      f"{name}.txt.gz")
  with gzip.open(path, "rt") as f:
    return f.read().split()


def names_per_synset(listing: Sequence[str], synsets: Sequence[str],
                     per_synset: int) -> dict[str, list[str]]:
  """The first `per_synset` file names of each synset in `listing` (lines
  such as `n01440764_10026.JPEG`), or made-up names when it has too few."""
  out = {}
  for synset in synsets:
    names = [n for n in listing if n.startswith(synset + "_")][:per_synset]
    names += [f"{synset}_{900000 + i}.JPEG"
              for i in range(per_synset - len(names))]
    out[synset] = names
  return out
