"""Pre-training: the epoch loop of embed -> cluster -> push -> train ->
checkpoint -> report, with resume, preemption and a final kNN."""

from __future__ import annotations

import time

import jax
import numpy as np

from hcsc_jax.clustering import hierarchical as clustering
from hcsc_jax.data.datasets import folder_defaults
from hcsc_jax.data import sources
from hcsc_jax.data import specs
from hcsc_jax.errors import InputExhaustedError
from hcsc_jax.errors import NonFiniteLossError
from hcsc_jax.evals import knn
from hcsc_jax.evals import label_scarce
from hcsc_jax.evals import encoder as encoder_lib
from hcsc_jax.training import final_knn
from hcsc_jax.engine import features as features_lib
from hcsc_jax.workdir import checkpoints as checkpointing
from hcsc_jax.workdir.checkpoints import Position
from hcsc_jax.runtime.preemption import Preempted
from hcsc_jax.runtime.preemption import PreemptionWatcher
from hcsc_jax.runtime.preemption import run_interruptible
from hcsc_jax.runtime import disk_space
from hcsc_jax.runtime import records
from hcsc_jax.runtime import reporting
from hcsc_jax.runtime import sharding
from hcsc_jax.workdir import lock as workdir_lock
from hcsc_jax.engine import epoch_loop
from hcsc_jax.engine import state as state_lib
from hcsc_jax.engine import step as step_lib
from hcsc_jax.training import validation
from hcsc_jax.workdir import layout as workdir_layout
from hcsc_jax.workdir import restore as workdirs
from hcsc_jax.viz import stats as hierarchy_stats


class Run:
  """Everything one pre-training run holds while it trains."""

  def __init__(self, config, workdir: str,
               watcher: PreemptionWatcher | None = None):
    self.config, self.workdir = config, workdir
    self.watcher = watcher
    self.started = time.time()
    workdirs.check_writable(workdir)
    validation.validate_config(config, device_count=jax.device_count(),
                               process_count=jax.process_count())
    self.mesh = sharding.make_mesh()
    self.dataset = sources.open_dataset(config.data)
    self.folder = getattr(self.dataset, "folder", None)  # image folders
    if self.folder is not None:
      folder_defaults.complete(
          config, self.dataset.num_examples(config.data.train_split))
    self.knn_skipped = _knn_skipped(self.dataset, config)
    if self.knn_skipped and (config.knn.enabled or config.eval_every):
      reporting.warn(f"kNN evaluations skipped: {self.knn_skipped}.")
    self.data = self.dataset.pretrain_input(
        specs.pretrain_spec(config), self.mesh)
    validation.validate_config(config, num_examples=self.data.num_examples,
                               device_count=jax.device_count(),
                               process_count=jax.process_count())
    self.steps_per_epoch = self.data.steps_per_epoch
    parts = state_lib.run_parts(config, self.steps_per_epoch)
    self.model, self.tx, self.schedule = parts.model, parts.tx, parts.schedule
    self.checkpoints = checkpointing.Checkpointer(workdir,
                                                  config.keep_checkpoints)
    if reporting.is_lead_process():  # torn last records of a killed run
      for name in (workdir_layout.HIERARCHY_STATS,
                   workdir_layout.CONFIG_HISTORY):
        records.repair(workdir_layout.path(workdir, name), reporting.warn)
    self.writer = reporting.create_writer(workdir)  # repairs metrics.jsonl
    self.train_step = step_lib.make_train_step(
        config, self.model, self.tx, self.schedule, self.mesh,
        make_batch=self.data.batch)
    self.push_hierarchy = step_lib.make_push_hierarchy(self.mesh)
    self.embed_head = step_lib.make_feature_fn(self.model, self.mesh, "head")
    self.damaged: list[checkpointing.Damage] = []
    self.state, self.position = self._initial_state()
    self.resumed_from = int(self.state.step)
    self.epoch_times: list[dict] = []
    self.online: list[dict] = []  # online kNN results of this invocation
    self.skipped_steps = 0          # non-finite steps dropped (if allowed)

  def _initial_state(self):
    latest = self.checkpoints.latest_step()
    if self.folder is not None and reporting.is_lead_process():
      from hcsc_jax.data.datasets import image_folder  # pylint: disable=g-import-not-at-top
      image_folder.write_workdir_records(self.folder, self.workdir,
                                         resuming=latest is not None)
    if latest is not None:
      saved = workdirs.load_config(self.workdir)
      changes = workdirs.shape_changes(saved, self.config)
      if not changes:
        workdirs.accept_resume_changes(self.workdir, saved, self.config)
      if changes and not self.config.reset_from:
        raise validation.ConfigError(
            f"the checkpoints in {self.checkpoints.directory} were written "
            f"with a different config ({'; '.join(changes)}); resume with "
            "the original settings, use another --workdir, or pass "
            "--config.reset_from=<workdir> to start a new run here from that "
            "workdir's encoder weights (these checkpoints are kept aside).")
      if changes:
        self.checkpoints = workdirs.set_aside_checkpoints(
            self.workdir, self.checkpoints, self.config.keep_checkpoints)
        latest = None
    if latest is not None:
      abstract = state_lib.abstract_train_state(
          self.config, self.model, self.tx, self.data.num_examples, self.mesh)
      state, position, self.damaged = self.checkpoints.restore_intact(
          abstract, reporting.warn)
      reporting.log(f"resumed from step {int(state.step)} in "
                    f"{self.checkpoints.directory}: {position}")
      return state, position
    state = state_lib.create_train_state(self.config, self.model, self.tx,
                                         self.data.num_examples, self.mesh)
    if self.config.reset_from:
      state = workdirs.start_from_weights(state, self.config.reset_from,
                                          self.tx)
      reporting.log(f"new run from the encoder weights of "
                    f"{self.config.reset_from}")
    reporting.log_parameters(state.params)
    workdirs.save_config(self.config, self.workdir)
    if reporting.is_lead_process():
      workdirs.save_run_info(self.workdir, self.data.num_examples)
    return state, Position()

  def _stop_check(self):
    """Raises Preempted on SIGTERM (single-process runs: with several
    processes every one must stop at the same point, so long phases run to
    their end there)."""
    if self.watcher is not None and jax.process_count() == 1:
      return self.watcher.check
    return None

  def _interruptible(self, fn):
    if self._stop_check() is None:
      return fn()
    return run_interruptible(fn, self.watcher)

  def compile_step(self) -> None:
    """Compiles the train step ahead of its first call, interruptibly (the
    jitted step then finds XLA's compiled executable in its cache)."""
    if not hasattr(self.train_step, "lower"):
      return
    inputs = self.data.abstract_inputs()
    self._interruptible(
        lambda: self.train_step.lower(self.state, inputs).compile())

  def cluster(self, epoch: int) -> dict[str, float]:
    """Embeds the train split with the key encoder, clusters, pushes."""
    start = time.time()
    features, labels = features_lib.split_features(
        self.embed_head, self.state.key_params, self.state.key_batch_stats,
        self.dataset, self.config.data.train_split,
        self.config.embed_batch_size, self.mesh, f"embed (epoch {epoch})",
        self._stop_check())
    embedded = time.time()
    arrays = self._hierarchy_arrays(features, labels, epoch)
    clustered = time.time()
    arrays = jax.device_put(arrays, sharding.replicated(self.mesh))
    self.state = self.push_hierarchy(self.state, arrays)
    return {"embed_s": embedded - start, "cluster_s": clustered - embedded}

  def _hierarchy_arrays(self, features: np.ndarray, labels: np.ndarray,
                        epoch: int):
    """The hierarchy as host arrays on every process.

    k-means runs on the lead process only and the result is broadcast:
    one source of truth, so processes can never disagree through
    floating-point or threading differences between machines.
    """
    kmeans = self.config.kmeans
    arrays = None
    if reporting.is_lead_process():
      hierarchy = self._interruptible(
          lambda: clustering.hierarchical_kmeans(
              features, tuple(self.config.num_clusters),
              self.config.objective.tau, niter=kmeans.niter,
              nredo=kmeans.nredo,
              max_points_per_centroid=kmeans.max_points_per_centroid,
              min_points_per_centroid=kmeans.min_points_per_centroid,
              seed=kmeans.seed, backend=kmeans.backend))
      arrays = hierarchy.as_tree()
      hierarchy_stats.append(self.workdir, hierarchy_stats.epoch_record(
          epoch, hierarchy, jax.device_get(self.state.queue), labels))
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      template = jax.device_get(self.state.hierarchy)
      arrays = multihost_utils.broadcast_one_to_all(
          arrays if arrays is not None else template)
    return arrays

  def train_epoch(self, epoch: int, start_step: int,
                  watcher: PreemptionWatcher, progress) -> int:
    """Trains from `start_step`; returns the number of steps done in the
    epoch (less than steps_per_epoch only when preempted)."""
    inputs = self.data.step_inputs(epoch, start_step,
                                   self.steps_per_epoch - start_step)
    self.state, done, stopped = epoch_loop.run_steps(
        self.train_step, self.state, inputs, epoch=epoch,
        start_step=start_step, steps_per_epoch=self.steps_per_epoch,
        log_every=self.config.log_every, report=self._report,
        stop_requested=lambda: watcher.requested,
        accumulate=_accumulate_with_nonfinite, on_step=progress)
    if done < self.steps_per_epoch and not stopped:
      raise InputExhaustedError(
          f"the train input of epoch {epoch} ended after step {done} of "
          f"{self.steps_per_epoch}: examples were dropped (undecodable "
          "images, named in the warnings above), so the epoch has fewer "
          "full batches; repair or remove those files and rerun (the run "
          "resumes from its last checkpoint).")
    return done

  def _report(self, step: int, totals: dict) -> None:
    first_bad = float(totals["first_nonfinite_step"])
    if first_bad >= 0 and self.config.skip_nonfinite_steps:
      skipped = int(round(float(totals["nonfinite"])))
      self.skipped_steps += skipped
      reporting.log(f"skipped {skipped} step(s) with a non-finite loss or "
                    f"gradient (the first at step {int(first_bad)}); "
                    "parameters, statistics and queue kept as before them.")
    elif first_bad >= 0:
      parts = {k: v for k, v in reporting.averaged(totals).items()
               if k in ("loss", "icsc", "pcsc", "local_instance",
                        "local_pcsc", "grad_norm")}
      raise NonFiniteLossError(
          f"non-finite loss or gradient at step {int(first_bad)} (averages "
          f"since the last report: {parts}); nothing after it was saved; "
          f"last good checkpoint: step {self.checkpoints.latest_step()} in "
          f"{self.checkpoints.directory}.")
    self.writer.write_scalars(step, reporting.averaged(totals))

  def save(self, position: Position) -> None:
    if reporting.is_lead_process():
      self._warn_if_space_runs_low()
    self.checkpoints.save(int(self.state.step), self.state, position)
    self._logs_at_save = self._log_bytes()

  def _log_bytes(self) -> int:
    """Bytes of the workdir outside its checkpoints (logs, records)."""
    return (disk_space.folder_bytes(self.workdir)
            - disk_space.folder_bytes(self.checkpoints.directory))

  def _warn_if_space_runs_low(self) -> None:
    """Before a checkpoint: warn when the disk will not hold the next few
    checkpoints (measured from the newest) and their logs (measured since
    the last save of this invocation)."""
    steps = self.checkpoints.all_steps()
    if not steps:
      return
    checkpoint = disk_space.folder_bytes(
        self.checkpoints.step_directory(steps[-1]))
    logs = self._log_bytes()
    growth = max(0, logs - getattr(self, "_logs_at_save", logs))
    line = disk_space.low_space_warning(self.workdir, checkpoint, growth,
                                        self.config.keep_checkpoints,
                                        len(steps))
    if line:
      reporting.warn(line)

  def online_knn(self, epoch: int) -> None:
    """kNN on the held-out split while training, logged as a metric."""
    start = time.time()
    results = dict(self.evaluate_knn(final=epoch == self.config.epochs - 1),
                   epoch=epoch)
    self.online.append(results)
    self.writer.write_scalars(int(self.state.step), {
        "online/knn_top1": results["knn_top1"],
        "time/knn_s": time.time() - start})
    reporting.log(f"epoch {epoch}: online kNN top-1 "
                  f"{results['knn_top1']:.4f}")

  def log_figures(self) -> None:
    """The visual report's figures as TensorBoard images."""
    from hcsc_jax.viz import report  # pylint: disable=g-import-not-at-top
    images = report.all_figures(
        self.state, report.RunFacts.of(self.config), self.model,
        self.dataset, self.mesh, self.workdir,
        report.Options(sample=self.config.visualize_sample))
    if reporting.is_lead_process():
      self.writer.write_images(int(self.state.step), {
          f"hierarchy/{name.removesuffix('.png')}": report.decode(data)
          for name, data in images.items()})

  def evaluate_knn(self, final: bool = True) -> dict[str, float]:
    """kNN of the query encoder's backbone features: eval split against the
    train split; at the end (`final`) also on label subsets and raw pixels
    (`knn.label_fractions`, `knn.pixel_baseline`)."""
    cfg = self.config
    splits = (cfg.data.train_split, cfg.data.eval_split)
    train, test = (features_lib.encoder_features(
        self.model, self.state.params, self.state.batch_stats, self.dataset,
        split, cfg.embed_batch_size, self.mesh, "backbone",
        f"kNN: {split}", self._stop_check()) for split in splits)
    results = knn.score(train, test, cfg.knn)
    if not final:
      return results
    subsets = final_knn.subset_scores(train, test, cfg.knn)
    subsets.update(final_knn.selected_scores(
        train, test, cfg, self._as_encoder(), self.dataset, self.mesh))
    results.update(subsets)
    if cfg.knn.pixel_baseline:
      pixels = [label_scarce.pixel_features(
          self.dataset, split, cfg.embed_batch_size, self.mesh,
          self._stop_check()) for split in splits]
      selected = final_knn.selected_scores(
          *pixels, cfg, None, self.dataset, self.mesh, "knn_pixels_top1")
      results.update(final_knn.pixel_baseline(*pixels, cfg.knn, subsets,
                                              selected))
    return results

  def _as_encoder(self) -> encoder_lib.Encoder:
    """The state as an evaluation's encoder, its hierarchy included (the
    'prototypes' label selection reads it)."""
    state = self.state
    active = bool(state.hierarchy_active)
    return encoder_lib.Encoder(
        self.model, state.params, state.batch_stats,
        f"{self.workdir} step {int(state.step)}", {},
        state.hierarchy.to_host() if active else None,
        (state.key_params, state.key_batch_stats) if active else None)


def _knn_skipped(dataset, config) -> str:
  """Why kNN cannot run on this data set ('' when it can)."""
  if not dataset.has_labels:
    return f"data set {dataset.name} has no labels"
  has_split = getattr(dataset, "has_split", lambda split: True)
  if not has_split(config.data.eval_split):
    return (f"data set {dataset.name} has no held-out split "
            f"{config.data.eval_split!r}")
  return ""


def _accumulate_with_nonfinite(totals: dict | None, metrics: dict) -> dict:
  """Running sums that also keep the first non-finite step (`_report`)."""
  return step_lib.accumulate(
      step_lib.zero_totals(metrics) if totals is None else totals, metrics)


def _preempted(run: Run, position: Position,
               watcher: PreemptionWatcher) -> dict:
  run.save(position)
  run.checkpoints.close()
  summary = _summary(run, finished=False)
  reporting.save_json(workdir_layout.path(run.workdir, workdir_layout.SUMMARY),
                      summary)
  print(watcher.stop_line(
      f"checkpoint at step {int(run.state.step)} (epoch {position.epoch}, "
      f"step {position.step_in_epoch} of {run.steps_per_epoch}) in "
      f"{run.checkpoints.directory}"), flush=True)
  return {"preempted": True, "step": int(run.state.step),
          "exit_status": watcher.exit_status}


def train_and_evaluate(config, workdir: str) -> dict:
  """Runs (or resumes) pre-training; returns the summary written to
  `<workdir>/summary.json`. Stops early, checkpointed, on SIGTERM or the
  first Ctrl-C (the summary then holds 'preempted' and 'exit_status').

  The lead process holds the workdir's lock throughout, so a second run on
  the same workdir is refused instead of writing beside this one.
  """
  workdirs.check_writable(workdir)
  watcher = PreemptionWatcher()
  lock = None
  try:
    if reporting.is_lead_process():
      lock = workdir_lock.WorkdirLock(
          workdir, "pre-training", config.lock_timeout_s)
      lock.acquire()
      _sync("lock")
    else:
      _sync("lock")
      workdir_lock.require(workdir, "pre-training")
    return _train(config, workdir, watcher)
  finally:
    watcher.restore()
    if lock is not None:
      lock.release()


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


def _train(config, workdir: str, watcher: PreemptionWatcher) -> dict:
  run = Run(config, workdir, watcher)
  reported = reporting.progress_reporter(config.epochs * run.steps_per_epoch,
                                         run.writer)
  saved = [run.checkpoints.latest_step() or 0, run.resumed_from]

  def progress(step: int) -> None:
    saved[1] = step
    reported(step)

  watcher.lost_work = lambda: (
      f"the {saved[1] - saved[0]} train step(s) since checkpoint step "
      f"{saved[0]} are lost")
  position = run.position
  try:
    if position.epoch < config.epochs:
      run.compile_step()
    for epoch in range(position.epoch, config.epochs):
      times = {"epoch": epoch}
      clustered = position.clustered and position.epoch == epoch
      if (config.use_hierarchy and epoch >= config.warmup_epochs
          and not clustered):
        times.update(run.cluster(epoch))
        clustered = True
      start_step = position.step_in_epoch if position.epoch == epoch else 0
      train_start = time.time()
      done = run.train_epoch(epoch, start_step, watcher, progress)
      times["train_s"] = time.time() - train_start
      run.epoch_times.append(times)
      run.writer.write_scalars(int(run.state.step),
                               {f"time/{k}": v for k, v in times.items()
                                if k != "epoch"})
      end = epoch_loop.epoch_end(epoch, done, run.steps_per_epoch,
                                 config.epochs, config.checkpoint_every,
                                 watcher.requested)
      position = Position(end.epoch, end.step_in_epoch,
                          clustered and end.epoch == epoch)
      if end.stop:
        return _preempted(run, position, watcher)
      if end.save:
        run.save(position)
        saved[0] = int(run.state.step)
      if (config.eval_every and not run.knn_skipped
          and (epoch + 1) % config.eval_every == 0):
        run.online_knn(epoch)
      if (config.visualize_every and bool(run.state.hierarchy_active)
          and (epoch + 1) % config.visualize_every == 0):
        run.log_figures()
  except Preempted:  # during compilation, embedding or k-means
    return _preempted(run, position if position.epoch < config.epochs
                      else Position(config.epochs, 0, False), watcher)
  finally:
    run.checkpoints.wait()
    run.writer.flush()

  try:
    summary = _summary(run, finished=True)
  except Preempted:  # during the final kNN; every checkpoint is written
    return _preempted(run, Position(config.epochs, 0, False), watcher)
  reporting.save_json(workdir_layout.path(workdir, workdir_layout.SUMMARY),
                      summary)
  knn_results = final_knn.scalars(
      {k: v for k, v in summary.items() if k.startswith("knn_")})
  if knn_results:
    run.writer.write_scalars(int(run.state.step), knn_results)
  run.checkpoints.close()
  return summary


def _summary(run: Run, finished: bool) -> dict:
  """This invocation's record added to those before it: epoch times and
  online kNN of every invocation that ended (finished or preempted), total
  wall time, damaged checkpoints; the final kNN once finished."""
  config = run.config
  path = workdir_layout.path(run.workdir, workdir_layout.SUMMARY)
  previous = reporting.read_json_or_set_aside(path)
  if previous:
    if "invocations" not in previous and "wall_s" in previous:  # older file
      previous["invocations"] = [{"wall_s": previous["wall_s"]}]
  step = int(run.state.step)
  invocation = {"resumed_from_step": run.resumed_from, "step": step,
                "finished": finished,
                "epochs_trained": [t["epoch"] for t in run.epoch_times]}
  summary = {
      "epochs": config.epochs, "step": step, "finished": finished,
      "epoch_times": previous.get("epoch_times", []) + run.epoch_times,
      "online_knn": previous.get("online_knn", []) + run.online,
      "skipped_steps": previous.get("skipped_steps", 0) + run.skipped_steps,
      "damaged_checkpoints": previous.get("damaged_checkpoints", []) + [
          d.to_json() for d in run.damaged],
      "invocations": previous.get("invocations", []) + [invocation]}
  if config.knn.enabled and finished and not run.knn_skipped:
    final = run.online[-1] if run.online else {}
    if final.get("epoch") != config.epochs - 1:  # not measured just now
      if previous.get("step") == step and "knn_top1" in previous:
        final = {k: v for k, v in previous.items() if k.startswith("knn_")}
      else:
        final = run.evaluate_knn()
    summary.update({k: v for k, v in final.items() if k != "epoch"})
  invocation["wall_s"] = time.time() - run.started
  summary["wall_s"] = sum(i["wall_s"] for i in summary["invocations"])
  return summary


def final_line(summary: dict) -> str:
  return final_knn.final_line(summary)
