"""One evaluation run: check the config, load the encoder and data, run the
protocol, record the result (JSON file + TensorBoard)."""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from hcsc_jax.data import sources
from hcsc_jax.errors import ConfigError
from hcsc_jax.evals import classifier
from hcsc_jax.evals import cluster_quality
from hcsc_jax.evals import encoder as encoder_lib
from hcsc_jax.evals import knn
from hcsc_jax.evals import run_data
from hcsc_jax.evals import subsets
from hcsc_jax import features as features_lib
from hcsc_jax.runtime import reporting
from hcsc_jax.runtime import sharding
from hcsc_jax.training import workdir_layout
from hcsc_jax.training import workdirs

PROTOCOLS = ("knn", "linear", "semi_supervised", "clustering")
CLASSIFIER_MODES = {"linear": "linear", "semi_supervised": "finetune"}


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
  if not cfg.clustering.num_clusters or min(cfg.clustering.num_clusters) < 1:
    add(f"clustering.num_clusters={tuple(cfg.clustering.num_clusters)} must "
        "be positive.")
  if cfg.classifier.epochs < 1:
    add(f"classifier.epochs={cfg.classifier.epochs} must be at least 1.")
  return problems


def result_name(cfg) -> str:
  return cfg.name + ("_random" if cfg.encoder == "random" else "")


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


def _features(encoder, dataset, cfg, split, mesh):
  return features_lib.encoder_features(
      encoder.model, encoder.params, encoder.batch_stats, dataset, split,
      cfg.batch_size, mesh, cfg.features, f"features: {split}")


def _subset(cfg, dataset, directory: str):
  """Dataset indices to train on, or None for the whole split."""
  name = cfg.classifier.subset
  if not name:
    return None
  subsets.require_labels(dataset, "a label subset")
  labels = dataset.labels(cfg.data.train_split)
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
  encoder = encoder_lib.load(cfg, workdir)
  dataset = sources.open_dataset(cfg.data)
  subsets.require_labels(dataset, cfg.protocol)
  name = result_name(cfg)
  directory = classifier.directory_for(workdir, name)
  reporting.log(f"evaluating {encoder.source} with {cfg.protocol}")
  if cfg.protocol == "knn":
    train = _features(encoder, dataset, cfg, cfg.data.train_split, mesh)
    test = _features(encoder, dataset, cfg, cfg.data.eval_split, mesh)
    metrics = knn.score(train, test, cfg.knn)
    metrics["top1"] = metrics["knn_top1"]
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
  result = {"protocol": cfg.protocol, "name": name,
            "encoder": encoder.source, "features": cfg.features,
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
