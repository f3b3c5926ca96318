"""Protocols on frozen features with a fraction of the labels: the
training rows (kNN memory bank, logistic-regression training set) are a
class-balanced subset of the train split, drawn `label_draws` times with
fixed seeds; the test split is whole. Results are the mean over draws, with
the std and every draw's value beside it.

With `label_selection` set, the subsets are not class-balanced draws
but the images a rule picks without looking at labels
(evals/label_budget.py: `prototypes`, `typical`, `random`), as many as a
balanced draw would hold; the caller passes them as `draws`.

With no fraction (label_fraction=0, labels_per_class=0) it is the usual
protocol on all labels. The same code scores every encoder: a checkpoint,
a random initialisation, or the raw pixels (`pixel_features`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import knn
from hcsc_jax.evals import label_budget
from hcsc_jax.evals import logistic
from hcsc_jax.evals import subsets

Features = tuple[np.ndarray, np.ndarray]


def uses_fraction(cfg) -> bool:
  return bool(cfg.label_fraction or cfg.labels_per_class)


def config_problems(cfg) -> list[str]:
  problems = []
  if not 0 <= cfg.label_fraction <= 1:
    problems.append(f"label_fraction={cfg.label_fraction} must be in [0, 1] "
                    "(0: all labels).")
  if cfg.labels_per_class < 0:
    problems.append(f"labels_per_class={cfg.labels_per_class} must be >= 0 "
                    "(0: use label_fraction).")
  if cfg.label_fraction and cfg.labels_per_class:
    problems.append("label_fraction and labels_per_class are both set; "
                    "give one.")
  if cfg.label_draws < 1:
    problems.append(f"label_draws={cfg.label_draws} must be at least 1.")
  strategy = cfg.get("label_selection", "")
  if strategy:
    if strategy not in label_budget.STRATEGIES:
      problems.append(f"label_selection={strategy!r}; choose one of "
                      f"{list(label_budget.STRATEGIES)} (or '' for "
                      "class-balanced random draws).")
    if not uses_fraction(cfg):
      problems.append(f"label_selection={strategy!r} picks a label subset: "
                      "give label_fraction or labels_per_class too.")
    frozen = cfg.protocol == "knn" or (cfg.protocol == "linear" and
                                       cfg.classifier.method == "logistic")
    if not frozen:
      problems.append(f"label_selection={strategy!r} works with the frozen "
                      "protocols: knn, and linear with "
                      "classifier.method='logistic'.")
  return problems


def subset_size(labels: np.ndarray, cfg) -> int:
  """How many labelled examples a subset of `cfg` holds: a balanced
  draw's size, whichever rule picks them."""
  classes = np.unique(labels[labels >= 0]).size
  return subsets.per_class_count(labels, cfg.label_fraction,
                                 cfg.labels_per_class) * classes


def over_draws(train: Features, test: Features, cfg,
               score: Callable[[Features, Features], dict],
               draws: list[np.ndarray] | None = None) -> dict:
  """`score(train subset, test)` averaged over the label draws (or once on
  all of `train` without a fraction); `draws`: the subsets' rows, when a
  selection rule picked them (default: class-balanced random draws)."""
  if not uses_fraction(cfg):
    return dict(score(train, test), train_examples=int(len(train[1])))
  if draws is None:
    draws = subsets.label_draws(train[1], cfg.label_fraction,
                                cfg.labels_per_class, cfg.label_draws,
                                cfg.seed)
  results = [score((train[0][rows], train[1][rows]), test) for rows in draws]
  out = {"train_examples": int(len(draws[0])),
         "label_draws": len(draws)}
  for key, value in results[0].items():
    if isinstance(value, (bool, np.bool_)):
      out[key] = bool(all(r[key] for r in results))
    elif isinstance(value, (float, int, np.floating, np.integer)):
      values = [float(r[key]) for r in results]
      out[key] = float(np.mean(values))
      out[f"{key}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 \
          else 0.0
      out[f"{key}_draws"] = values
  return out


def knn_scores(train: Features, test: Features, cfg,
               draws: list[np.ndarray] | None = None) -> dict:
  """kNN over the label draws. With a selection rule (`draws` given),
  neighbour counts above the subset's size are left out with a warning
  (a 0.1% budget of 60 images has no 100th neighbour) and the result
  names the ks used; on balanced draws such a k is an error, as before."""
  block = cfg.knn
  if uses_fraction(cfg):
    size = subset_size(train[1], cfg) if draws is None else len(draws[0])
    if draws is not None and max(block.ks) > size:
      fitting = tuple(k for k in block.ks if k <= size)
      if fitting:
        from hcsc_jax.runtime import reporting  # pylint: disable=g-import-not-at-top
        reporting.warn(f"knn.ks={tuple(block.ks)}: the {size} selected "
                       f"images leave k={fitting} (larger k dropped).")
        block = knn.config_block(**dict(block.to_dict(), ks=fitting))
    problems = knn.config_problems(block, size)
    if problems:
      raise ConfigError("; ".join(problems) + f" (the label subset holds "
                        f"{size} examples)")
  result = over_draws(train, test, cfg,
                      lambda tr, te: knn.score(tr, te, block), draws)
  if draws is not None:
    result["knn_ks"] = list(block.ks)
  return result


def logistic_scores(train: Features, test: Features, cfg,
                    draws: list[np.ndarray] | None = None) -> dict:
  return over_draws(train, test, cfg, lambda tr, te: logistic.fit_and_score(
      tr, te, c=cfg.classifier.logistic_c), draws)


def pixel_features(dataset, split: str, batch_size: int, mesh,
                   stop_check=None) -> Features:
  """The raw pixels after the eval transform (normalised), flattened: the
  baseline every encoder must beat. Grayscale images stored as RGB (three
  equal channels) keep one channel: Fashion-MNIST's 784 pixels."""
  import jax  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  flatten = jax.jit(lambda p, s, images: images.reshape(images.shape[0], -1))
  features, labels = features_lib.split_features(
      flatten, None, None, dataset, split, batch_size, mesh,
      f"pixels: {split}", stop_check)
  channels = [features[:, c::3] for c in range(3)]
  if np.array_equal(channels[0], channels[1]) and np.array_equal(
      channels[0], channels[2]):
    features = np.ascontiguousarray(channels[0])
  return features, labels
