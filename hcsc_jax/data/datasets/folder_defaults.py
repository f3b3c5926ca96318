"""Defaults for a folder of unknown images, from the images themselves:
cluster counts from the number of training images, and the normalisation
mean/std from their pixels, each used only where the config leaves it
empty (and logged, and saved in the run's config.json)."""

from __future__ import annotations

from absl import logging
import numpy as np


def cluster_counts(num_images: int) -> tuple[int, ...]:
  """Three levels of roughly 20, 100 and 500 images per cluster, strictly
  decreasing and below the number of images (fewer levels for tiny sets)."""
  counts = []
  for per_cluster in (20, 100, 500):
    count = max(2, num_images // per_cluster)
    if count < num_images and (not counts or count < counts[-1]):
      counts.append(count)
  if not counts:
    counts = [max(1, num_images // 2)]
  return tuple(counts)


def mean_std(images: np.ndarray, sample: int = 20000
             ) -> tuple[tuple[float, ...], tuple[float, ...]]:
  """Per-channel mean and std in [0, 1] of (up to `sample` of) the images."""
  step = max(1, len(images) // sample)
  pixels = np.asarray(images[::step], np.float32).reshape(-1,
                                                          images.shape[-1])
  pixels /= 255.0
  mean = pixels.mean(axis=0)
  std = np.maximum(pixels.std(axis=0), 1e-3)
  return (tuple(round(float(m), 4) for m in mean),
          tuple(round(float(s), 4) for s in std))


def complete(config, num_train: int) -> None:
  """Fills config.num_clusters when empty (in place)."""
  if config.use_hierarchy and not tuple(config.num_clusters):
    config.num_clusters = cluster_counts(num_train)
    logging.info("num_clusters derived from the %d training images: %s",
                 num_train, config.num_clusters)
