"""The elementwise half of the MoCo v2 recipe on the accelerator: colour
jitter (random order), grayscale, Gaussian blur and flip, per example, from
the train step's PRNG key (`config.augment.on_device`).

tf.data then only decodes, crops and resizes, and ships uint8 views (4x
fewer bytes to the device than float32); these ops mirror
`hcsc_jax.data.tfdata.augment` op for op (tests compare them), on [B, H, W, 3]
floats in [0, 1], and finish with the mean/std normalisation.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hcsc_jax.data.specs import AugmentSpec

Array = jax.Array
_GRAY = jnp.asarray([0.2989, 0.5870, 0.1140], jnp.float32)  # tf's weights


def _gray(image: Array) -> Array:
  """[..., 3] -> [...]: the weighted channel sum written out (XLA:CPU
  reduces a minor axis of 3 elements an order of magnitude slower)."""
  r, g, b = image[..., 0], image[..., 1], image[..., 2]
  return r * _GRAY[0] + g * _GRAY[1] + b * _GRAY[2]


def grayscale3(image: Array) -> Array:
  gray = _gray(image)[..., None]
  return jnp.broadcast_to(gray, image.shape)


def adjust_brightness(image: Array, factor) -> Array:
  return jnp.clip(image * factor, 0.0, 1.0)


def adjust_contrast(image: Array, factor) -> Array:
  mean = jnp.mean(_gray(image))
  return jnp.clip((image - mean) * factor + mean, 0.0, 1.0)


def adjust_saturation(image: Array, factor) -> Array:
  gray = grayscale3(image)
  return jnp.clip((image - gray) * factor + gray, 0.0, 1.0)


def adjust_hue(image: Array, delta) -> Array:
  """Rotates the hue by `delta` turns (tf.image.adjust_hue)."""
  r, g, b = image[..., 0], image[..., 1], image[..., 2]
  value = jnp.maximum(jnp.maximum(r, g), b)
  minimum = jnp.minimum(jnp.minimum(r, g), b)
  chroma = value - minimum
  safe = jnp.where(chroma > 0, chroma, 1.0)
  hue = jnp.where(value == r, (g - b) / safe,
                  jnp.where(value == g, 2.0 + (b - r) / safe,
                            4.0 + (r - g) / safe)) / 6.0
  hue = jnp.where(chroma > 0, hue, 0.0)
  hue = jnp.mod(hue + delta, 1.0)
  # hsv -> rgb
  sector = hue * 6.0
  channel = lambda n: value - chroma * jnp.clip(
      jnp.minimum(jnp.mod(n + sector, 6.0), 4.0 - jnp.mod(n + sector, 6.0)),
      0.0, 1.0)
  return jnp.stack([channel(5.0), channel(3.0), channel(1.0)], axis=-1)


def gaussian_blur(image: Array, sigma, sigma_max: float) -> Array:
  """Separable Gaussian blur, reflect padding, radius ceil(3 sigma_max)
  capped to the image size (as augment.gaussian_blur)."""
  size = image.shape[0]
  radius = max(1, min(int(math.ceil(3 * sigma_max)), size - 1))
  x = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  kernel = jnp.exp(-0.5 * jnp.square(x / sigma))
  kernel = kernel / jnp.sum(kernel)
  padded = jnp.pad(image, ((radius, radius), (radius, radius), (0, 0)),
                   mode="reflect")
  width = image.shape[1]
  rows = sum(kernel[i] * padded[:, i:i + width] for i in range(2 * radius + 1))
  return sum(kernel[i] * rows[i:i + size] for i in range(2 * radius + 1))


def _toward(image: Array, reference, factor) -> Array:
  """clip((image - reference) * factor + reference): brightness with
  reference 0, contrast with the mean gray, saturation with the pixel's gray,
  and the identity with factor 1 (exact on [0, 1] images)."""
  return jnp.clip((image - reference) * factor + reference, 0.0, 1.0)


def _color_jitter(image: Array, key: Array, strength) -> Array:
  """torchvision's ColorJitter: brightness, contrast, saturation and hue in
  a random order.

  The order is a per-example value, so under vmap a `switch` per position
  would compute all four adjustments at all four positions (hue, the costly
  one, four times). Instead the three affine adjustments run as stages with
  per-example reference and factor, those ordered before the hue rotation
  ahead of it and the rest after (inactive stages are the identity), so the
  hue runs once: the same order and values, 4x less work.
  """
  brightness, contrast, saturation, hue = strength
  keys = jax.random.split(key, 5)
  uniform = lambda k, lo, hi: jax.random.uniform(k, (), jnp.float32, lo, hi)
  factors = jnp.stack([
      uniform(keys[0], 1 - brightness, 1 + brightness),
      uniform(keys[1], 1 - contrast, 1 + contrast),
      uniform(keys[2], 1 - saturation, 1 + saturation)])
  h = uniform(keys[3], -hue, hue)
  order = jnp.argsort(jax.random.uniform(keys[4], (4,)))  # op at position i
  position = jnp.argsort(order)  # position of op 0 (brightness) .. 3 (hue)
  affine_order = jnp.argsort(position[:3])  # the affine ops, in order
  before_hue = jnp.sum(position[:3] < position[3])

  def stage(image, slot, active):
    op = affine_order[slot]
    gray = _gray(image)
    reference = jnp.where(op == 1, jnp.mean(gray),
                          jnp.where(op == 2, gray[..., None], 0.0))
    return _toward(image, reference, jnp.where(active, factors[op], 1.0))

  for slot in range(3):
    image = stage(image, slot, slot < before_hue)
  image = adjust_hue(image, h)
  for slot in range(3):
    image = stage(image, slot, slot >= before_hue)
  return image


def augment_one(image: Array, key: Array, spec: AugmentSpec) -> Array:
  """One example: uint8 or [0, 1] float HWC -> normalised float32."""
  if image.dtype == jnp.uint8:
    image = image.astype(jnp.float32) / 255.0
  keys = jax.random.split(key, 8)
  coin = lambda k, p: jax.random.uniform(k) < p
  if spec.flip_prob > 0:  # first: every later op commutes with it, and XLA
    # fuses a reversal at the end of the chain into a slow loop
    image = jnp.where(coin(keys[5], spec.flip_prob), image[:, ::-1], image)
  if spec.jitter_prob > 0:
    jittered = _color_jitter(image, keys[1], spec.jitter)
    image = jnp.where(coin(keys[0], spec.jitter_prob), jittered, image)
  if spec.grayscale_prob > 0:
    image = jnp.where(coin(keys[2], spec.grayscale_prob), grayscale3(image),
                      image)
  if spec.blur_prob > 0:
    sigma = jax.random.uniform(keys[4], (), jnp.float32, *spec.blur_sigma)
    blurred = gaussian_blur(image, sigma, spec.blur_sigma[1])
    image = jnp.where(coin(keys[3], spec.blur_prob), blurred, image)
  return normalise(image, spec)


def normalise(image: Array, spec: AugmentSpec) -> Array:
  """[0, 1] float RGB -> (x - mean) / std."""
  mean = jnp.asarray(spec.mean, jnp.float32)
  std = jnp.asarray(spec.std, jnp.float32)
  return (image - mean) / std


def augment_batch(images: Array, key: Array, spec: AugmentSpec) -> Array:
  """[B, H, W, 3] views, each with its own key from `key`."""
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(lambda x, k: augment_one(x, k, spec))(images, keys)
