"""Generated image folders for the folder tests: class subfolders (or a
flat variant) of small PNG/JPEG images in every mode a user's folder may
hold, plus files that are not usable images."""

import os

import numpy as np
from PIL import Image

from hcsc_jax.configs import image_folder as image_folder_config
from tests.trainer_fixtures import override

CLASSES = ("cats", "dogs", "owls")
BAD_FILES = {
    "cats/empty.jpg": "empty file",
    "dogs/notes.JPG": "not an image",
    "owls/cut short.png": "cannot decode",
}


def _image(rng, label: int, size: int) -> np.ndarray:
  """A class-coloured noisy square, so classes are separable."""
  base = np.zeros((size, size, 3), np.float32)
  base[..., label % 3] = 180
  noise = rng.normal(0, 30, (size, size, 3))
  return np.clip(base + noise, 0, 255).astype(np.uint8)


def write_folder(root: str, per_class: int = 24, flat: bool = False,
                 bad: bool = True, seed: int = 0) -> str:
  """`root`/<class>/<n>.png|jpg (or all in `root` when flat) in RGB, L,
  RGBA, P, CMYK and 16-bit modes, unicode and space names, an upside-down
  EXIF photo; with `bad`, the BAD_FILES too."""
  rng = np.random.default_rng(seed)
  for label, name in enumerate(CLASSES):
    folder = root if flat else os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    for n in range(per_class):
      pixels = _image(rng, label, 20 + (n % 3) * 7)
      image = Image.fromarray(pixels)
      stem = f"{name}_{n:03d}" + (" é" if n == 1 else "")
      kind = n % 6
      if kind == 0:
        image.save(os.path.join(folder, stem + ".png"))
      elif kind == 1:
        image.convert("L").save(os.path.join(folder, stem + ".PNG"))
      elif kind == 2:
        image.convert("RGBA").save(os.path.join(folder, stem + ".png"))
      elif kind == 3:
        image.convert("P").save(os.path.join(folder, stem + ".gif"))
      elif kind == 4:
        image.convert("CMYK").save(os.path.join(folder, stem + ".jpg"))
      else:
        exif = Image.Exif()
        exif[0x0112] = 3  # rotated 180 degrees
        image.save(os.path.join(folder, stem + ".jpeg"), exif=exif)
    sixteen = (np.asarray(Image.fromarray(_image(rng, label, 24)).convert("L"),
                          np.uint16) * 257)
    Image.fromarray(sixteen).save(os.path.join(folder, f"{name}_16bit.png"))
  if bad:
    for relative in BAD_FILES:
      path = os.path.join(root, os.path.basename(relative) if flat
                          else relative)
      if "empty" in relative:
        open(path, "wb").close()
      elif "notes" in relative:
        with open(path, "w") as f:
          f.write("not a picture\n")
      else:
        Image.fromarray(_image(rng, 0, 64)).save(path + ".tmp.png")
        with open(path + ".tmp.png", "rb") as f:
          data = f.read()
        os.remove(path + ".tmp.png")
        with open(path, "wb") as f:
          f.write(data[:len(data) // 2])
  with open(os.path.join(root, "README.txt"), "w") as f:
    f.write("not an image extension: ignored\n")
  return root


def folder_config(folder, cache, overrides=None, **fields):
  """The folder config's smoke variant on `folder`, its decode cache in
  `cache`."""
  c = image_folder_config.get_config("smoke")
  c.data.folder = folder
  c.data.cache_dir = cache
  c.data.threads = 2
  return override(c, dict(overrides or {}, **fields))
