"""One evaluation run: check the config, load the encoder and data, run the
protocol, record the result (JSON file + TensorBoard)."""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from hcsc_jax.data import sources
from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import chosen_labels
from hcsc_jax.evals import classifier
from hcsc_jax.evals import cluster_quality
from hcsc_jax.evals import encoder as encoder_lib
from hcsc_jax.evals import knn
from hcsc_jax.evals import label_scarce
from hcsc_jax.evals import run_data
from hcsc_jax.evals import subsets
from hcsc_jax.engine import features as features_lib
from hcsc_jax.runtime import reporting
from hcsc_jax.runtime import sharding
from hcsc_jax.workdir import layout as workdir_layout
from hcsc_jax.workdir import restore as workdirs

PROTOCOLS = ("knn", "linear", "semi_supervised", "clustering")
CLASSIFIER_MODES = {"linear": "linear", "semi_supervised": "finetune"}
# How the linear protocol trains: SGD over augmented crops (the reference
# protocol) or logistic regression on frozen eval-mode features.
CLASSIFIER_METHODS = ("sgd", "logistic")


def config_problems(cfg, device_count: int = 1,
                    process_count: int = 1) -> list[str]:
  problems = []
  add = problems.append
  if cfg.protocol not in PROTOCOLS:
    add(f"protocol={cfg.protocol!r}; choose one of {list(PROTOCOLS)}.")
  if cfg.features not in ("backbone", "head"):
    add(f"features={cfg.features!r}; choose 'backbone' or 'head'.")
  for field, value in (("batch_size", cfg.batch_size),
                       ("classifier.batch_size", cfg.classifier.batch_size)):
    if value < 1 or value % (device_count * process_count):
      add(f"{field}={value} must be a positive multiple of the "
          f"{device_count} devices (and {process_count} processes).")
  problems.extend(knn.config_problems(cfg.knn))
  problems.extend(label_scarce.config_problems(cfg))
  if cfg.encoder not in encoder_lib.ENCODERS + ("pixels",):
    add(f"encoder={cfg.encoder!r}; choose one of "
        f"{list(encoder_lib.ENCODERS + ('pixels',))}.")
  if cfg.classifier.method not in CLASSIFIER_METHODS:
    add(f"classifier.method={cfg.classifier.method!r}; choose one of "
        f"{list(CLASSIFIER_METHODS)}.")
  frozen = cfg.protocol in ("knn", "clustering") or (
      cfg.protocol == "linear" and cfg.classifier.method == "logistic")
  if cfg.encoder == "pixels" and not frozen:
    add(f"encoder='pixels' has no network to train: use it with knn, "
        f"clustering or linear with classifier.method='logistic', not "
        f"{cfg.protocol}" + (" (method 'sgd')" if cfg.protocol == "linear"
                             else "") + ".")
  if not cfg.clustering.num_clusters or min(cfg.clustering.num_clusters) < 1:
    add(f"clustering.num_clusters={tuple(cfg.clustering.num_clusters)} must "
        "be positive.")
  if cfg.classifier.epochs < 1:
    add(f"classifier.epochs={cfg.classifier.epochs} must be at least 1.")
  return problems


def result_name(cfg) -> str:
  """`<name>[_<fraction>pct][_by_<label selection>][_random|_pixels]`: each
  protocol, label fraction, selection rule and encoder kind has its own
  result file (`_by_random`, labels picked at random, is not `_random`,
  the random-init encoder)."""
  baseline = {"random": "_random", "pixels": "_pixels"}.get(cfg.encoder, "")
  selection = cfg.get("label_selection", "")
  return (cfg.name + subsets.suffix(cfg.label_fraction, cfg.labels_per_class)
          + (f"_by_{selection}" if selection else "") + baseline)


def _check_same_start(directory: str, encoder, cfg) -> None:
  """A resumed classifier must continue from the encoder and settings it
  started with; anything else would silently mix two runs."""
  path = workdir_layout.path(directory, workdir_layout.PROTOCOL_START)
  record = {"encoder": encoder.record(),
            "classifier": json.loads(cfg.classifier.to_json()),
            "data": json.loads(cfg.data.to_json()), "seed": cfg.seed}
  if os.path.exists(path):
    with open(path) as f:
      started = json.load(f)
    changed = sorted(part for part in record
                     if started.get(part) != record[part])
    if changed:
      raise ConfigError(
          f"{directory} holds a classifier started with different {changed} "
          f"(was {[started.get(p) for p in changed]}); delete that directory "
          "or pass another --config.name.")
  elif reporting.is_lead_process():
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
      json.dump(record, f)


# The last few splits' frozen features, so that the protocols of one study
# run (kNN and linear at several label budgets and rules) embed once.
_FEATURES: dict = {}
_FEATURES_KEPT = 4


def _features(encoder, dataset, cfg, split, mesh):
  """The split's frozen features: the encoder's, or the raw pixels
  (`encoder=pixels`, encoder None); reused within a process for the same
  encoder, split and data settings."""
  key = ("raw pixels" if encoder is None else encoder.source, split,
         cfg.features, cfg.batch_size, cfg.data.to_json())
  if key in _FEATURES:
    return _FEATURES[key]
  if encoder is None:
    out = label_scarce.pixel_features(dataset, split, cfg.batch_size, mesh)
  else:
    out = features_lib.encoder_features(
        encoder.model, encoder.params, encoder.batch_stats, dataset, split,
        cfg.batch_size, mesh, cfg.features, f"features: {split}")
  while len(_FEATURES) >= _FEATURES_KEPT:
    _FEATURES.pop(next(iter(_FEATURES)))
  _FEATURES[key] = out
  return out


def _subset(cfg, dataset, directory: str):
  """Dataset indices to train on, or None for the whole split."""
  name = cfg.classifier.subset
  if not name and not label_scarce.uses_fraction(cfg):
    return None
  subsets.require_labels(dataset, "a label subset")
  labels = dataset.labels(cfg.data.train_split)
  if label_scarce.uses_fraction(cfg):
    name = subsets.suffix(cfg.label_fraction, cfg.labels_per_class)[1:]
    chosen = subsets.label_draws(labels, cfg.label_fraction,
                                 cfg.labels_per_class, 1, cfg.seed)[0]
  else:
    chosen = subsets.stratified_subset(labels, name, cfg.seed)
  if reporting.is_lead_process():
    os.makedirs(directory, exist_ok=True)
    np.savetxt(workdir_layout.protocol_subset(directory, name), chosen,
               fmt="%d")
  return chosen


def evaluate(cfg, workdir: str) -> dict:
  """Runs `cfg.protocol` on the encoder `cfg` names; returns the result."""
  problems = config_problems(cfg, jax.local_device_count(),
                             jax.process_count())
  if problems:
    raise ConfigError("invalid evaluation config:\n  "
                                 + "\n  ".join(problems))
  run_config = (None if cfg.checkpoint
                else workdirs.load_config(workdir))
  run_data.settle(cfg, run_config)
  sources.hide_accelerators_from_tensorflow(cfg.data)
  mesh = sharding.make_mesh()
  encoder = None if cfg.encoder == "pixels" else encoder_lib.load(cfg,
                                                                   workdir)
  source = "raw pixels" if encoder is None else encoder.source
  dataset = sources.open_dataset(cfg.data)
  subsets.require_labels(dataset, cfg.protocol)
  name = result_name(cfg)
  directory = classifier.directory_for(workdir, name)
  reporting.log(f"evaluating {source} with {cfg.protocol}")
  frozen_linear = (cfg.protocol == "linear"
                   and cfg.classifier.method == "logistic")
  if cfg.protocol == "knn" or frozen_linear:
    train = _features(encoder, dataset, cfg, cfg.data.train_split, mesh)
    test = _features(encoder, dataset, cfg, cfg.data.eval_split, mesh)
    draws, selection = None, {}
    if cfg.get("label_selection", ""):
      draws, selection = chosen_labels.draws(cfg, train, encoder, dataset,
                                             mesh, run_config)
    if frozen_linear:
      metrics = label_scarce.logistic_scores(train, test, cfg, draws)
    else:
      metrics = label_scarce.knn_scores(train, test, cfg, draws)
      metrics["top1"] = metrics["knn_top1"]
    metrics.update(selection)
  elif cfg.protocol == "clustering":
    split = {"train": cfg.data.train_split, "eval": cfg.data.eval_split
             }.get(cfg.clustering.split, cfg.clustering.split)
    features, labels = _features(encoder, dataset, cfg, split, mesh)
    c = cfg.clustering
    metrics = cluster_quality.scores(features, labels,
                                     tuple(c.num_clusters), niter=c.niter,
                                     nredo=c.nredo, seed=c.seed)
  else:
    _check_same_start(directory, encoder, cfg)
    metrics = classifier.train(encoder, cfg, CLASSIFIER_MODES[cfg.protocol],
                               dataset, _subset(cfg, dataset, directory),
                               mesh, directory)
    if metrics.get("preempted"):
      return dict(metrics, protocol=cfg.protocol, name=name)
  result = {"protocol": cfg.protocol, "name": name, "encoder": source,
            "features": "pixels" if encoder is None else cfg.features,
            "label_fraction": cfg.label_fraction,
            "labels_per_class": cfg.labels_per_class,
            **{k: (float(v) if isinstance(v, (float, np.floating)) else v)
               for k, v in metrics.items()}}
  path = workdir_layout.eval_result(workdir, name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  reporting.save_json(path, result)
  writer = reporting.create_writer(directory)
  writer.write_scalars(0, {f"{cfg.protocol}/{k}": v for k, v in
                           result.items() if isinstance(v, float)})
  writer.flush()
  return result
