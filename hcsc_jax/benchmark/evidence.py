r"""The accelerator's evidence in one call: speed, clustering and learning,
against a deadline, packed for the trip back (launch/gpu_evidence.sh).

  bash launch/gpu_evidence.sh --out=<folder> [--budget_s=480] [--dry_run]
  python -m hcsc_jax.benchmark.evidence --table=<folder it wrote>

Parts, in order; each one's subprocess is stopped at the deadline, and
whatever finished is packed:
  preflight   jax/jaxlib versions, devices, `nvidia-smi -L`, the imports the
              commands need, the four Fashion-MNIST idx files
  step        the full ResNet-50 HCSC step, 224 px, batch 256, bf16:
              pairs/s, ms/step, counted FLOPs and MFU (benchmark --parts=step)
  kmeans      hierarchical k-means of 1,281,167 x 128 into 3000/2000/1000
              on the `jax` backend (benchmark --parts=cluster)
  demo_step   the demo network's steps/s, embedding and kNN seconds on the
              device path (benchmark --parts=paths, fashion_mnist_long)
  pretrain    HCSC and MoCo v2 on fashion_mnist_long with the epochs (then
              seeds) that the demo step's time fits into the time left, all
              runs side by side (launch/gpu_study.sh); each run ends with
              PROTOCOLS (kNN and logistic at 1%, 10%, 100% of the labels,
              kNN at 0.1% with TypiClust's `typical` labels)
  pack        <out>/evidence.json (what ran, the plan, every figure),
              <out>/evidence.log, <out>/records.tar.gz (logs, benchmark
              JSON, each run's config, metrics, summary and evaluations; no
              checkpoints, features or event files)

The raw-pixel row is known (results/fashion_mnist_study) and not
recomputed; `--table=<folder>` builds the comparison on the CPU from the
returned records (the study's table over the finished runs and
evaluations, trained and evaluated nowhere again) with that row added.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time

DEMO_CONFIG = "configs/fashion_mnist_long.py"
PROTOCOLS = ("knn", "knn@1%", "knn@10%", "linear@1%", "linear@10%", "linear",
             "knn@0.1%:typical")
VARIANTS = ("hcsc", "mocov2")
PACKED_SUFFIXES = (".json", ".jsonl", ".log", ".md", ".txt", ".csv")
SKIPPED_FOLDERS = ("checkpoints", "features", "embeddings")
RECORDS = "records.tar.gz"


@dataclasses.dataclass(frozen=True)
class Sizes:
  """What each part runs: the real sizes, or tiny ones for --dry_run."""
  step: tuple[str, ...]
  kmeans: tuple[str, ...]
  demo_config: str
  demo_steps: int
  run_overhead_s: float    # start-up, compiling, the final kNN of a run
  eval_reserve_s: float    # PROTOCOLS after a run's training
  pack_reserve_s: float
  max_epochs: int | None   # None: the config's
  max_seeds: int


FULL = Sizes(
    step=("--dtype=bfloat16", "--steps=10"),
    kmeans=("--cluster_sizes=1281167",),
    demo_config=DEMO_CONFIG, demo_steps=50, run_overhead_s=60.0,
    eval_reserve_s=120.0, pack_reserve_s=20.0, max_epochs=None,
    max_seeds=3)
DRY = Sizes(
    step=("--step_config=" + DEMO_CONFIG + ":smoke", "--num_examples=256",
          "--steps=2", "--warmup=1"),
    kmeans=("--cluster_sizes=3000", "--clusters=30,20,10"),
    demo_config=DEMO_CONFIG + ":smoke", demo_steps=2, run_overhead_s=5.0,
    eval_reserve_s=40.0, pack_reserve_s=5.0, max_epochs=2, max_seeds=2)


class Evidence:
  """The record of the call: parts with their status and figures, the
  plan, written to <out>/evidence.json after every part (a call cut off
  still leaves what finished), and a log mirrored to <out>/evidence.log."""

  def __init__(self, out: str, work: str, budget_s: float):
    self.out, self.work = out, work
    self.start = time.monotonic()
    self.deadline = self.start + budget_s
    self.record = {"budget_s": budget_s, "parts": {}}
    os.makedirs(out, exist_ok=True)
    os.makedirs(os.path.join(work, "logs"), exist_ok=True)
    self._log = open(os.path.join(out, "evidence.log"), "a", encoding="utf-8")

  def left(self) -> float:
    return self.deadline - time.monotonic()

  def log(self, message: str) -> None:
    line = f"gpu_evidence [{time.monotonic() - self.start:6.1f} s] {message}"
    print(line, flush=True)
    self._log.write(line + "\n")
    self._log.flush()

  def part(self, name: str, **fields) -> None:
    self.record["parts"].setdefault(name, {}).update(fields)
    self.save()

  def save(self) -> None:
    self.record["wall_s"] = round(time.monotonic() - self.start, 1)
    path = os.path.join(self.out, "evidence.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
      json.dump(self.record, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def _run(evidence: Evidence, name: str, command: list[str], timeout: float,
         env: dict | None = None) -> str:
  """Runs `command` with its output in <work>/logs/<name>.log, stopped
  (SIGTERM, then SIGKILL) after `timeout` seconds; returns its status:
  'ok', 'failed (exit N)' or 'stopped at the deadline'."""
  log_path = os.path.join(evidence.work, "logs", f"{name}.log")
  if timeout < 1:
    evidence.log(f"{name}: skipped, no time left")
    return "skipped: no time left"
  evidence.log(f"{name}: {shlex.join(command)} (at most {timeout:.0f} s)")
  start = time.monotonic()
  with open(log_path, "a", encoding="utf-8") as log:
    # Its own process group: at the deadline every process it started is
    # stopped too (a study run checkpoints on SIGTERM and exits).
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True)
    try:
      code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      os.killpg(process.pid, signal.SIGTERM)
      try:
        process.wait(timeout=15)
      except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
      code = None
  status = ("ok" if code == 0 else "stopped at the deadline" if code is None
            else f"failed (exit {code})")
  evidence.log(f"{name}: {status} after {time.monotonic() - start:.0f} s")
  if code not in (0, None):
    with open(log_path, encoding="utf-8", errors="replace") as f:
      tail = f.read()[-1500:]
    evidence.log(f"{name}: the end of {log_path}:\n{tail}")
  return status


def preflight(evidence: Evidence, data_dir: str, dry_run: bool) -> str | None:
  """Versions and devices into the record; the first thing missing as one
  line, or None when everything is there."""
  from hcsc_jax.data.datasets import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  try:
    fashion_mnist_files.check_source_dir(data_dir)
  except FileNotFoundError as missing:
    return (f"{missing} (on a GPU host: bash launch/gpu_bundle.sh here, then "
            "carry .bundle and .whl)")
  probe = ("import json, jax, jaxlib, flax, optax, orbax.checkpoint, "
           "ml_collections, clu, importlib.metadata as m\n"
           "d = jax.devices()\n"
           "print(json.dumps({'jax': jax.__version__, 'jaxlib': "
           "jaxlib.__version__, 'flax': flax.__version__, 'optax': "
           "optax.__version__, 'orbax': m.version('orbax-checkpoint'), "
           "'ml_collections': m.version('ml_collections'), 'clu': "
           "m.version('clu'), 'python': __import__('sys').version.split()[0],"
           " 'platform': d[0].platform, 'device_kind': d[0].device_kind, "
           "'devices': len(d)}))")
  env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
  done = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                        text=True, env=env, check=False, timeout=300)
  if done.returncode != 0:
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return (f"the GPU host's Python cannot import what the commands need: "
            f"{last} (carry the wheels: bash launch/gpu_bundle.sh, then "
            "carry=['.whl', '.bundle'])")
  machine = json.loads(done.stdout.strip().splitlines()[-1])
  smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                       check=False) if _has("nvidia-smi") else None
  machine["nvidia_smi"] = smi.stdout.strip() if smi else "no nvidia-smi"
  evidence.record["machine"] = machine
  evidence.part("preflight", status="ok")
  evidence.log(f"preflight: {machine['device_kind']} x {machine['devices']} "
               f"({machine['platform']}), jax {machine['jax']}, jaxlib "
               f"{machine['jaxlib']}; {machine['nvidia_smi']}")
  if not dry_run and machine["platform"] != "gpu":
    return (f"jax sees no GPU ({machine['platform']}: "
            f"{machine['device_kind']}); --dry_run runs on the CPU.")
  return None


def _has(program: str) -> bool:
  import shutil  # pylint: disable=g-import-not-at-top
  return shutil.which(program) is not None


def _benchmark(evidence: Evidence, name: str, args: list[str],
               reserve_s: float, cap_s: float) -> dict:
  """One benchmark part; its figures (or {}) into the record."""
  output = os.path.join(evidence.work, f"bench_{name}.json")
  status = _run(evidence, name,
                [sys.executable, "-m", "hcsc_jax.benchmark", *args,
                 f"--output={output}"],
                min(cap_s, evidence.left() - reserve_s))
  results = {}
  if os.path.exists(output):
    with open(output, encoding="utf-8") as f:
      results = json.load(f).get("results", {})
  evidence.part(name, status=status, results=results)
  return results


@dataclasses.dataclass(frozen=True)
class Plan:
  """How the time left is spent on pre-training."""
  epochs: int
  seeds: int
  warmup_epochs: int
  epoch_s: float           # one run's epoch alone on the accelerator
  train_s: float           # the time the runs were given


def plan_pretraining(train_s: float, epoch_s: float, config_epochs: int,
                     config_warmup: int, overhead_s: float,
                     max_epochs: int | None = None,
                     max_seeds: int = 3) -> Plan | None:
  """Epochs first, then seeds: the variants of a seed run side by side and
  share the accelerator (an epoch of each costs their sum), so the time
  buys `(train_s - overhead_s) / epoch_s` epochs in all; each of the 2
  variants of a seed gets an equal share, seeds are added only once a run
  has the config's full epochs. Clustering starts after a fifth of the
  epochs at most (the config's warmup when there is room). None when not
  one epoch fits."""
  cap = min(config_epochs, max_epochs or config_epochs)
  total = (train_s - overhead_s) / (epoch_s * 1.1)  # 10% for clustering
  per_run = math.floor(total / len(VARIANTS))
  if per_run < 1:
    return None
  seeds = max(1, min(max_seeds, per_run // cap))
  epochs = min(cap, math.floor(total / (len(VARIANTS) * seeds)))
  warmup = min(config_warmup, max(1, epochs // 5)) if epochs > 1 else 0
  return Plan(epochs, seeds, warmup, epoch_s, train_s)


def _load_config(path: str):
  from hcsc_jax.benchmark import config_files  # pylint: disable=g-import-not-at-top
  return config_files.load_config(path)


def _epoch_seconds(demo: dict, config, train_examples: int) -> float | None:
  """One epoch of one run alone: its steps at the measured rate, plus the
  clustering pass's embedding of the training set."""
  rate = demo.get("paths_device")
  if not rate:
    return None
  steps = train_examples // config.batch_size
  return steps / rate + demo.get("paths_device_embed_s", 0.0)


def study_command(config: str, workdir: str, plan: Plan, data_dir: str,
                  protocols=PROTOCOLS) -> list[str]:
  """The study's table command over the runs (`--table` runs it on the
  returned records; nothing is missing, so nothing is trained)."""
  return [sys.executable, "-m", "hcsc_jax.study", f"--config={config}",
          f"--workdir={workdir}", f"--seeds={plan.seeds}",
          "--variants=" + ",".join(VARIANTS),
          "--protocols=" + ",".join(protocols), "--nobaselines",
          f"--config.epochs={plan.epochs}",
          f"--config.warmup_epochs={plan.warmup_epochs}",
          "--config.eval_every=0", "--config.visualize_every=0",
          f"--config.data.manual_dir={data_dir}"]


def gpu_study_command(workdir: str, plan: Plan, data_dir: str,
                      dry_run: bool) -> list[str]:
  """launch/gpu_study.sh with every run of the plan side by side (its
  --dry_run is the same tiny study on the CPU: 2 seeds, 2 epochs)."""
  return (["bash", "launch/gpu_study.sh", f"--workdir={workdir}",
           f"--epochs={plan.epochs}", f"--seeds={plan.seeds}",
           f"--parallel={plan.seeds * len(VARIANTS)}", "--nobaselines",
           "--protocols=" + ",".join(PROTOCOLS),
           f"--config.warmup_epochs={plan.warmup_epochs}",
           f"--config.data.manual_dir={data_dir}"]
          + (["--dry_run"] if dry_run else []))


def pretrain(evidence: Evidence, sizes: Sizes, data_dir: str, demo: dict,
             dry_run: bool) -> None:
  """The runs, sized from the demo step to the time left, side by side
  (launch/gpu_study.sh), stopped at the deadline."""
  from hcsc_jax.data.datasets import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  config = _load_config(sizes.demo_config)
  _, labels = fashion_mnist_files.read_split(data_dir, "train")
  epoch_s = _epoch_seconds(demo, config, len(labels))
  if epoch_s is None:
    evidence.part("pretrain", status="skipped: no demo step time")
    return
  train_s = evidence.left() - sizes.pack_reserve_s - sizes.eval_reserve_s
  plan = plan_pretraining(train_s, epoch_s, config.epochs,
                          config.warmup_epochs, sizes.run_overhead_s,
                          sizes.max_epochs, sizes.max_seeds)
  if plan is None:
    evidence.part("pretrain", status="skipped: not one epoch fits",
                  epoch_s=epoch_s, train_s=train_s)
    return
  workdir = os.path.join(evidence.work, "study")
  evidence.record["plan"] = dataclasses.asdict(plan) | {
      "config": sizes.demo_config, "protocols": list(PROTOCOLS),
      "variants": list(VARIANTS)}
  evidence.log(f"pretrain: {plan.seeds} seed(s) x {list(VARIANTS)}, "
               f"{plan.epochs} epochs (clustering from epoch "
               f"{plan.warmup_epochs}); one epoch alone ~{epoch_s:.1f} s")
  status = _run(evidence, "pretrain",
                gpu_study_command(workdir, plan, data_dir, dry_run),
                evidence.left() - sizes.pack_reserve_s)
  evidence.part("pretrain", status=status, results=run_results(workdir))


def run_results(workdir: str) -> dict:
  """{variant: {seed_<s>: {"epochs", "finished", "knn", <result file>:
  {metric: value}}}} of what the runs under `workdir` finished."""
  out = {}
  for variant in VARIANTS:
    folder = os.path.join(workdir, variant)
    for seed_dir in sorted(os.listdir(folder)) if os.path.isdir(
        folder) else ():
      directory = os.path.join(folder, seed_dir)
      record = {}
      summary = _read_json(os.path.join(directory, "summary.json"))
      if summary:
        record.update(epochs=summary.get("epochs"),
                      finished=summary.get("finished", False),
                      knn=summary.get("knn_top1"))
      eval_dir = os.path.join(directory, "eval")
      for name in sorted(os.listdir(eval_dir)) if os.path.isdir(
          eval_dir) else ():
        if name.endswith(".json"):
          record[name[:-5]] = {
              k: v for k, v in _read_json(os.path.join(eval_dir, name)).items()
              if isinstance(v, (int, float))}
      out.setdefault(variant, {})[seed_dir] = record
  return out


def _read_json(path: str) -> dict:
  if not os.path.exists(path):
    return {}
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def pack(evidence: Evidence) -> None:
  """<out>/records.tar.gz: every text record under the work folder."""
  buffer = io.BytesIO()
  count = 0
  with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
    for folder, subfolders, files in os.walk(evidence.work):
      subfolders[:] = sorted(d for d in subfolders
                             if d not in SKIPPED_FOLDERS)
      for name in sorted(files):
        if name.endswith(PACKED_SUFFIXES):
          path = os.path.join(folder, name)
          tar.add(path, arcname=os.path.relpath(path, evidence.work))
          count += 1
  with open(os.path.join(evidence.out, RECORDS), "wb") as f:
    f.write(buffer.getvalue())
  evidence.part("pack", status="ok", files=count,
                bytes=len(buffer.getvalue()))
  evidence.log(f"pack: {count} records in {evidence.out}/{RECORDS} "
               f"({len(buffer.getvalue()) / 1e6:.2f} MB)")


def gather(args) -> int:
  sizes = DRY if args.dry_run else FULL
  evidence = Evidence(args.out, args.work, args.budget_s)
  evidence.record.update(dry_run=args.dry_run, data_dir=args.data_dir,
                         started=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
  missing = preflight(evidence, args.data_dir, args.dry_run)
  if missing:
    evidence.part("preflight", status=f"failed: {missing}")
    print(f"error: gpu_evidence: {missing}", file=sys.stderr, flush=True)
    return 2
  reserve = sizes.pack_reserve_s + sizes.eval_reserve_s + 60
  _benchmark(evidence, "step", ["--parts=step", *sizes.step], reserve, 150)
  _benchmark(evidence, "kmeans", ["--parts=cluster", "--cluster_backends=jax",
                                  *sizes.kmeans], reserve, 60)
  demo = _benchmark(evidence, "demo_step",
                    ["--parts=paths", "--paths=device",
                     f"--config={sizes.demo_config}",
                     f"--steps={sizes.demo_steps}", "--no_fixed_batch",
                     f"--manual_dir={args.data_dir}"], reserve, 120)
  pretrain(evidence, sizes, args.data_dir, demo, args.dry_run)
  pack(evidence)
  evidence.log(f"done in {time.monotonic() - evidence.start:.0f} s of "
               f"{args.budget_s:.0f}; {evidence.out}: "
               + ", ".join(sorted(os.listdir(evidence.out))))
  return 0


def table(folder: str, baselines_from: str) -> int:
  """The comparison on the CPU from a returned folder: records.tar.gz
  unpacked beside it, then the study's table over the runs that finished
  and the protocols every one of them finished (nothing is trained or
  evaluated again)."""
  with open(os.path.join(folder, "evidence.json"), encoding="utf-8") as f:
    record = json.load(f)
  work = os.path.join(folder, "records")
  with tarfile.open(os.path.join(folder, RECORDS)) as tar:
    tar.extractall(work, filter="data")
  plan_fields = record.get("plan")
  if not plan_fields:
    print(f"error: {folder}/evidence.json holds no pre-training plan: the "
          "call ended before pre-training.", file=sys.stderr)
    return 1
  results = run_results(os.path.join(work, "study"))
  finished = {v: [s for s, r in seeds.items() if r.get("finished")]
              for v, seeds in results.items()}
  seeds = min((len(s) for s in finished.values()), default=0)
  if len(finished) < len(VARIANTS) or seeds == 0:
    print(f"error: {folder}: not every variant has a finished run "
          f"({ {v: len(s) for v, s in finished.items()} }); the records "
          "are in records/ but make no table.", file=sys.stderr)
    return 1
  done = _protocols_done_by_all(plan_fields, os.path.join(work, "study"),
                                seeds)
  plan = Plan(**{k: plan_fields[k] for k in (
      "epochs", "warmup_epochs", "epoch_s", "train_s")}, seeds=seeds)
  command = study_command(plan_fields["config"], os.path.join(work, "study"),
                          plan, record["data_dir"], done)
  print("gpu_evidence: " + shlex.join(command), flush=True)
  code = subprocess.run(command, check=False).returncode
  if code == 0:
    _add_committed_pixels(os.path.join(work, "study"), baselines_from)
  return code


def _add_committed_pixels(study_dir: str, baselines_from: str) -> None:
  """The raw-pixel row of the committed study (the same split and
  protocols; pixels do not depend on the encoder) added to the table, so
  nothing is evaluated again. The random-init row is left out: it depends
  on the network, which differs between the demo and the long config."""
  from hcsc_jax.studies import runs as study_runs  # pylint: disable=g-import-not-at-top
  committed = _read_json(baselines_from).get("baselines", {}).get("pixels")
  if not committed:
    print(f"gpu_evidence: no raw-pixel row in {baselines_from}; the table "
          "has none.", flush=True)
    return
  record = _read_json(os.path.join(study_dir, "study.json"))
  record["baselines"] = {"pixels": committed}
  with open(os.path.join(study_dir, "study.json"), "w",
            encoding="utf-8") as f:
    json.dump(record, f, indent=1)
  table_text = study_runs.markdown(record) + (
      f"\n\nThe raw-pixel row is read from {baselines_from} (not evaluated "
      "again; — where it has no such protocol).")
  with open(os.path.join(study_dir, "study.md"), "w", encoding="utf-8") as f:
    f.write(table_text + "\n")
  print(table_text, flush=True)


def _protocols_done_by_all(plan_fields: dict, workdir: str,
                           seeds: int) -> list[str]:
  """The planned protocols whose results every run of the first `seeds`
  seeds saved (kNN with all labels is in each run's summary)."""
  from hcsc_jax.method import variants  # pylint: disable=g-import-not-at-top
  from hcsc_jax.studies import runs as study_runs  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import layout  # pylint: disable=g-import-not-at-top
  base = _load_config(plan_fields["config"])
  done = []
  for spec in plan_fields["protocols"]:
    paths = []
    for variant in VARIANTS:
      for seed in range(seeds):
        config = variants.apply(variant, base.copy_and_resolve_references())
        config.seed = seed
        directory = layout.study_run(workdir, variant, seed)
        paths.append(study_runs.evaluation_path(
            spec, config, directory, seed, study_runs.eval_config))
    if spec == "knn" or all(os.path.exists(p) for p in paths):
      done.append(spec)
  return done


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", help="folder for the packed results ($OUT)")
  parser.add_argument("--work", default="/tmp/hcsc_evidence",
                      help="scratch folder of the runs (not packed whole)")
  parser.add_argument("--budget_s", type=float, default=480.0,
                      help="the internal deadline, from the start")
  parser.add_argument("--data_dir", default=None,
                      help="the Fashion-MNIST idx folder")
  parser.add_argument("--dry_run", action="store_true",
                      help="tiny sizes on the CPU: the same code path")
  parser.add_argument("--table", default=None,
                      help="a returned folder: build the comparison table")
  parser.add_argument("--baselines_from",
                      default="results/fashion_mnist_study/study.json",
                      help="--table: the committed study whose raw-pixel "
                      "row the table shows")
  args = parser.parse_args(argv)
  if args.table:
    return table(args.table, args.baselines_from)
  if not args.out or not args.data_dir:
    parser.error("--out and --data_dir are needed (launch/gpu_evidence.sh "
                 "passes them)")
  return gather(args)


if __name__ == "__main__":
  sys.exit(main())
