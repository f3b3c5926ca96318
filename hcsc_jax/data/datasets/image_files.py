"""Decoding one image file of a user's folder into a square uint8 RGB array,
whatever the file holds: EXIF orientation applied; grayscale, CMYK,
palette, alpha (composited on white) and 16-bit images made 8-bit RGB; a
JPEG far larger than needed decoded at a reduced scale (PIL's draft mode,
so a 6000x4000 photo never exists at full size); images smaller than the
target upsampled. A file that is not a readable image raises Unreadable
with the reason, for the skip list.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")


class Unreadable(Exception):
  """A file that cannot be used as an image; str() is the reason."""


def is_image_name(name: str) -> bool:
  return name.lower().endswith(EXTENSIONS)


def _to_rgb(image):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
    values = np.asarray(image, np.float64)
    high = 65535.0 if image.mode.startswith("I;16") else max(
        float(values.max()), 1.0)
    image = Image.fromarray(
        np.clip(values / high * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
  if image.mode == "P" and "transparency" in image.info:
    image = image.convert("RGBA")
  if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    image = Image.alpha_composite(background, rgba)
  return image.convert("RGB")


def decode(path: str, size: int) -> np.ndarray:
  """[size, size, 3] uint8: the shorter side resized to `size`, then the
  centre square. Raises Unreadable."""
  from PIL import Image, ImageOps  # pylint: disable=g-import-not-at-top
  try:
    if os.path.getsize(path) == 0:
      raise Unreadable("empty file (0 bytes)")
    with warnings.catch_warnings():
      warnings.simplefilter("error", Image.DecompressionBombWarning)
      with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at >= size, reduced
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
        width, height = image.size
        scale = size / min(width, height)
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        image = image.resize(new, Image.Resampling.BILINEAR,
                             reducing_gap=3.0)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
        return np.asarray(image, np.uint8)
  except Unreadable:
    raise
  except Image.UnidentifiedImageError:
    raise Unreadable("not an image PIL can identify (wrong extension or "
                     "corrupt)") from None
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
    raise Unreadable(f"too many pixels ({e})") from None
  except (OSError, ValueError, SyntaxError, EOFError) as e:
    raise Unreadable(f"cannot decode: {' '.join(str(e).split())[:200]}"
                     ) from None
