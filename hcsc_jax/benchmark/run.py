"""Benchmarks on synthetic data: `python -m hcsc_jax.benchmark`.

Prints one `name=value unit` line per measurement and writes them to a JSON
file. Needs neither TensorFlow nor faiss.

  hcsc_head   ms per step of the HCSC objective alone (selection + losses,
              forward + backward w.r.t. the queries, plus the refresh of the
              cached queue normaliser for the keys the step enqueues) at
              reference sizes: B=256, K=16384, d=128, levels 3000/2000/1000.
  step        image pairs/s of the full sharded train step (momentum update,
              shuffle-BN key pass, query pass, HCSC objective, SGD, enqueue)
              with the hierarchy active; --arch, --image_size, --dtype,
              --no_donate, --device_augment (uint8 views, jitter/gray/blur/
              flip in the step). `step_fed_*` run 3x --steps steps from host
              NumPy batches, timed as a whole: `host` copies each batch just
              before its step, `prefetch` keeps 2 copies in flight.
  embed       images/s of the eval-mode key-encoder pass.
  cluster     seconds of the hierarchical k-means (niter 20, nredo 5) for
              each N in --cluster_sizes and each of --cluster_backends
              (faiss needs faiss; jax runs on the accelerators), on
              L2-normalised points drawn around 1000 random centres.
  input       the trainer's TrainData on an official-layout ImageNet of
              photo-like 500x375 JPEGs (~100 KB; generated into
              --input_dir, or from --jpeg_dir) prepared by TFDS, with the
              config's augmentation placement (on the devices for the
              ImageNet configs; --host_augment for the float32 host one):
              pairs/s,
              pairs per CPU-second, host cores per H100; and the eval
              pipeline's images per CPU-second (needs TensorFlow).
  folder      an image folder (--folder, or --folder_images photo-like
              JPEGs of --photo_size generated into --input_dir): the
              decode cache's build (images/s, images per CPU-second, at
              the folder config's preload size; CPU-seconds are the
              decode workers') and the stream path's
              host side (batches gathered from the cache file and copied
              to the devices): pairs/s and pairs per CPU-second. The
              memory path has no host side: its batches are made in the
              step.
  browser     the hierarchy browser (index.html) of --browser_images
              synthetic images in three levels (cluster counts as derived
              for a folder of that size) in headless Chromium (Debian's
              chromium + chromium-driver, selenium): ms to load the page,
              open a top-level cluster, reach the images of a finest
              cluster, go back to the top, and find a file by name.
  torch_step  the demo's step written in PyTorch as the original code runs
              it (`hcsc_jax.benchmark.torch_step`, needs torch and torchvision), at
              --step_config's sizes (default the demo): `torch_step` on
              fixed float views (pairs/s), `torch_fed` fed by a DataLoader
              of --torch_workers processes making torchvision MoCo v2
              views of Debian's Fashion-MNIST, as the original trains.
  paths       a real config's (--config, default the Fashion-MNIST demo)
              train-phase steps/s, hierarchy active, three ways in one
              process: fed by tf.data (`paths_tfdata`, needs TensorFlow and
              the data), made in the step from arrays on the devices
              (`paths_device`), and a fixed device-resident batch
              (`paths_synthetic`); then seconds of the clustering embedding
              pass and of the online kNN (embed train + eval split, kNN)
              for both input paths.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.data import specs
from hcsc_jax.method import hierarchy as hierarchy_lib
from hcsc_jax.method import objective
from hcsc_jax.benchmark import synthetic


def _timed(fn: Callable[[int], object], warmup: int, steps: int
           ) -> tuple[float, float]:
  """(seconds of the first call, median seconds of the timed calls)."""
  start = time.perf_counter()
  jax.block_until_ready(fn(0))
  first = time.perf_counter() - start
  for i in range(warmup):
    jax.block_until_ready(fn(1 + i))
  times = []
  for i in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(fn(100 + i))
    times.append(time.perf_counter() - start)
  return first, statistics.median(times)


def bench_hcsc_head(args) -> dict[str, float]:
  rng = np.random.default_rng(0)
  batch, dim = args.batch, args.dim
  hierarchy = synthetic.random_hierarchy(args.clusters, args.num_examples, dim)
  queue = jnp.asarray(synthetic.unit_rows(rng, args.queue, dim))
  q = jnp.asarray(synthetic.unit_rows(rng, batch, dim))
  k = jnp.asarray(synthetic.unit_rows(rng, batch, dim))
  config = objective.ObjectiveConfig(sampler=args.sampler)
  cache = hierarchy_lib.queue_log_normalizers(queue, hierarchy)
  use_cache = not args.no_cache

  def head(q, k, queue, cache, hierarchy, indices, rng):
    def loss_fn(q):
      return objective.hcsc_objective(
          q, k, queue, hierarchy, indices, rng, config,
          log_normalizers=cache if use_cache else None)
    (loss, _), grad = jax.value_and_grad(loss_fn, has_aux=True)(q)
    if use_cache:  # the step also refreshes the rows it enqueues
      cache = hierarchy_lib.refresh_log_normalizers(cache, k, jnp.int32(0),
                                                 hierarchy)
    return loss, grad, cache

  head = jax.jit(head)

  def run(i):
    indices = jnp.asarray(
        np.random.default_rng(i).integers(0, args.num_examples, batch),
        jnp.int32)
    return head(q, k, queue, cache, hierarchy, indices, jax.random.key(i))

  first, median = _timed(run, args.warmup, args.steps)
  return {"hcsc_head": median * 1e3, "hcsc_head_first_call": first * 1e3}


def _step_config(args):
  """The step part's config: a real config file (--step_config, whose
  sizes then replace the flags'), or the ImageNet one sized by the flags."""
  if args.step_config:
    config = _load_config(args.step_config)
    args.arch, args.batch = config.arch, config.batch_size
    args.queue, args.dim = config.queue_size, config.embed_dim
    args.clusters = tuple(config.num_clusters)
    args.image_size = config.data.image_size
    args.dtype = config.dtype
    args.device_augment = config.augment.on_device
    return config
  from configs import hcsc_r50_imagenet  # pylint: disable=g-import-not-at-top
  config = hcsc_r50_imagenet.get_config()
  config.arch = args.arch
  config.batch_size = args.batch
  config.queue_size = args.queue
  config.embed_dim = args.dim
  config.num_clusters = args.clusters
  config.data.image_size = args.image_size
  config.dtype = args.dtype
  config.objective.sampler = args.sampler
  config.augment.on_device = args.device_augment
  return config


def bench_step(args) -> dict[str, float]:
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import state as state_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import step as step_lib  # pylint: disable=g-import-not-at-top
  config = _step_config(args)
  mesh = sharding.make_mesh()
  parts, state = state_lib.new_state(config, args.num_examples, mesh,
                                     steps_per_epoch=5000)
  model, tx, schedule = parts.model, parts.tx, parts.schedule
  hierarchy = synthetic.random_hierarchy(args.clusters, args.num_examples,
                                         args.dim)
  state = step_lib.make_push_hierarchy(mesh)(
      state, jax.device_put(hierarchy, sharding.replicated(mesh)))
  train_step = step_lib.make_train_step(config, model, tx, schedule, mesh,
                                        donate=not args.no_donate)
  rng = np.random.default_rng(0)
  size = args.image_size

  def host_views():
    if args.device_augment:
      return rng.integers(0, 256, (args.batch, size, size, 3), np.uint8)
    return rng.normal(size=(args.batch, size, size, 3)).astype(np.float32)

  host = {"query": host_views(), "key": host_views(),
          "index": rng.integers(0, args.num_examples,
                                args.batch).astype(np.int32)}
  batch = sharding.put_batch(host, mesh)
  holder = {"state": state}

  def run(_):
    holder["state"], metrics = train_step(holder["state"], batch)
    return metrics["loss"]

  first, median = _timed(run, args.warmup, args.steps)
  embed = step_lib.make_feature_fn(model, mesh, "head")
  images = batch["query"]

  def run_embed(_):
    return embed(holder["state"].key_params, holder["state"].key_batch_stats,
                 images)

  _, embed_median = _timed(run_embed, args.warmup, args.steps)
  results = {"step": args.batch / median, "step_compile": first,
             "step_ms": median * 1e3}
  if not args.device_augment:  # the embed input is float32 images
    results["embed"] = args.batch / embed_median
  # Fed from the host, as the trainer is: each step's batch is a fresh copy.
  count = 3 * args.steps
  for name, depth in (("host", 0), ("prefetch", 2)):
    batches = (dict(host) for _ in range(count))
    start = time.perf_counter()
    loss = None
    for device_batch in sharding.prefetch_to_device(batches, mesh, depth):
      holder["state"], metrics = train_step(holder["state"], device_batch)
      loss = metrics["loss"]
      if depth == 0:  # the copy of the next batch waits for this step
        jax.block_until_ready(loss)
    jax.block_until_ready(loss)
    results[f"step_fed_{name}"] = count * args.batch / (
        time.perf_counter() - start)
  return results


def bench_torch_step(args) -> dict[str, float]:
  """The PyTorch yardstick (`hcsc_jax.benchmark.torch_step`) at the Fashion-MNIST demo
  config's sizes, fed from Debian's Fashion-MNIST files."""
  from hcsc_jax.benchmark import torch_step  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  config = _load_config(args.step_config or "configs/fashion_mnist.py")
  if config.arch != "resnet18" or not config.small_stem:
    raise ValueError("torch_step: the yardstick is the small-stem ResNet-18 "
                     f"of the Fashion-MNIST demo; the config has arch="
                     f"{config.arch!r}, small_stem={config.small_stem}.")
  directory = fashion_mnist_files.source_dir(args.manual_dir)
  fashion_mnist_files.check_source_dir(directory)
  images, _ = fashion_mnist_files.read_split(directory, "train")
  return torch_step.benchmark(
      width=config.width, embed_dim=config.embed_dim,
      batch=config.batch_size, image_size=config.data.image_size,
      queue_size=config.queue_size, clusters=tuple(config.num_clusters),
      group=config.bn_group_size, steps=args.steps, warmup=args.warmup,
      images=images.reshape(images.shape[:3]),
      scale=tuple(config.augment.scale), mean=tuple(config.data.mean),
      std=tuple(config.data.std), workers=args.torch_workers)


def bench_cluster(args) -> dict[str, float]:
  from hcsc_jax.clustering import hierarchical as clustering  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  centres = synthetic.unit_rows(rng, 1000, args.dim)
  results = {}
  for size in (int(n) for n in args.cluster_sizes.split(",")):
    points = centres[rng.integers(0, 1000, size)] + 0.3 / np.sqrt(
        args.dim) * rng.normal(size=(size, args.dim)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    for backend in args.cluster_backends.split(","):
      start = time.perf_counter()
      clustering.hierarchical_kmeans(points, args.clusters, backend=backend)
      results[f"cluster_{backend}_n{size}"] = time.perf_counter() - start
  return results


def _input_dataset(args) -> str:
  """An official-layout ImageNet of photo-like JPEGs (generated once into
  --input_dir, or made from the JPEGs of --jpeg_dir) for the input part."""
  import glob  # pylint: disable=g-import-not-at-top
  import tarfile  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import synthetic_imagenet  # pylint: disable=g-import-not-at-top
  root = os.path.abspath(args.input_dir)
  if os.path.exists(os.path.join(root, "ILSVRC2012_img_val.tar")):
    return root
  synsets = ["n01440764", "n01443537", "n01484850", "n01491361",
             "n01494475", "n01496331", "n01498041", "n01514668",
             "n01514859", "n01518878"]
  if args.jpeg_dir:
    files = sorted(glob.glob(os.path.join(args.jpeg_dir, "**", "*.*"),
                             recursive=True))
    os.makedirs(root, exist_ok=True)
    with tarfile.open(os.path.join(root, "ILSVRC2012_img_train.tar"),
                      "w") as outer:
      for k, synset in enumerate(synsets):
        inner = os.path.join(root, f"{synset}.tar")
        with tarfile.open(inner, "w") as archive:
          for i, path in enumerate(files[k::len(synsets)]):
            archive.add(path, f"{synset}_{i}.JPEG")
        outer.add(inner, f"{synset}.tar")
        os.remove(inner)
    with tarfile.open(os.path.join(root, "ILSVRC2012_img_val.tar"),
                      "w") as val:
      for i, path in enumerate(files[:50]):
        val.add(path, f"ILSVRC2012_val_{i + 1:08d}.JPEG")
    return root
  per_synset = -(-args.input_images // len(synsets))
  names = {s: [f"{s}_{i}.JPEG" for i in range(per_synset)] for s in synsets}
  written = synthetic_imagenet.write_layout(root, names, val_count=50)
  with open(os.path.join(root, "sizes.json"), "w") as f:
    json.dump(written, f)
  return root


def bench_input(args) -> dict[str, float]:
  """The trainer's own TrainData (TFDS read, parse, shuffle, decode, two
  views, batching) on the ImageNet config, timed over --input_batches
  batches after two: pairs/s, pairs per CPU-second of this process (all
  threads; the one figure independent of core count), and the host cores
  one H100 at 3,382 pairs/s would need; then the eval pipeline
  (embedding pass) in images."""
  import resource  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.tfdata import pipeline  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], "GPU")
  root = _input_dataset(args)
  config = _load_config(args.input_config)
  config.data.manual_dir = root
  config.data.data_dir = os.path.join(root, "tfds")
  config.data.image_size = args.image_size
  config.batch_size = args.batch
  if args.host_augment:
    config.augment.on_device = False
  builder = pipeline.load_builder(config.data)
  data = pipeline.TrainData(builder, config.data,
                            specs.pretrain_spec(config))

  def batches():
    epoch = 0
    while True:
      yield from data.epoch(epoch)
      epoch += 1

  def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

  stream = batches()
  for _ in range(2):
    next(stream)
  start, cpu = time.perf_counter(), cpu_seconds()
  for _ in range(args.input_batches):
    next(stream)
  wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
  pairs = args.input_batches * config.batch_size
  results = {"input_pairs_per_s": pairs / wall,
             "input_pairs_per_cpu_s": pairs / cpu,
             "input_cores_per_h100": 3382 / (pairs / cpu)}
  stream.close()  # its prefetching threads would share the eval's cores
  del stream
  count, eval_stream = pipeline.eval_batches(builder, config.data, "train",
                                             config.batch_size)
  next(eval_stream)
  start, cpu = time.perf_counter(), cpu_seconds()
  done = 0
  for batch in itertools.islice(eval_stream, min(count - 1,
                                                 args.input_batches)):
    done += int(batch["mask"].sum())
  wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
  results.update(eval_images_per_s=done / wall,
                 eval_images_per_cpu_s=done / cpu)
  sizes = os.path.join(root, "sizes.json")
  if os.path.exists(sizes):
    with open(sizes) as f:
      written = json.load(f)
    results["input_mean_kb_per_file"] = written["bytes"] / written["files"] / 1e3
  return results


def _photo_folder(args) -> str:
  """--folder, or a folder of photo-like JPEGs generated once."""
  from hcsc_jax.data.datasets import synthetic_imagenet  # pylint: disable=g-import-not-at-top
  if args.folder:
    return os.path.abspath(args.folder)
  width, height = (int(v) for v in args.photo_size.split("x"))
  root = os.path.join(os.path.abspath(args.input_dir),
                      f"folder_{args.photo_size}_{args.folder_images}")
  if not os.path.exists(os.path.join(root, "done")):
    rng = np.random.default_rng(0)
    os.makedirs(root, exist_ok=True)
    for i in range(args.folder_images):
      with open(os.path.join(root, f"photo_{i:05d}.jpg"), "wb") as f:
        f.write(synthetic_imagenet.encode(synthetic_imagenet.photo_like(
            rng, height, width)))
    open(os.path.join(root, "done"), "w").close()
  return root


def _cpu_seconds() -> float:
  import resource  # pylint: disable=g-import-not-at-top
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def bench_folder(args) -> dict[str, float]:
  """Decode-cache build and stream-path gathering of an image folder."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.device import in_memory  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  root = _photo_folder(args)
  config = _load_config(args.folder_config)
  config.data.folder = root
  config.data.folder_input = "stream"
  config.batch_size = args.batch
  with tempfile.TemporaryDirectory() as cache:
    config.data.cache_dir = cache
    start = time.perf_counter()
    dataset = in_memory.InMemoryDataset(config.data)
    wall = time.perf_counter() - start  # scan, decode, cache, mean/std
    with open(dataset.folder.cache_path[:-len(".npy")] + ".json") as f:
      record = json.load(f)
    files = len(dataset.folder.index.files) + len(dataset.folder.skipped)
    results = {"folder_cache_s": wall,
               "folder_cache_images_per_s": files / record["decode_s"],
               "folder_cache_images_per_cpu_s": files / record[
                   "decode_cpu_s"]}
    mesh = sharding.make_mesh()
    data = dataset.pretrain_input(specs.pretrain_spec(config), mesh)
    steps = min(args.input_batches, data.steps_per_epoch)
    stream = data.step_inputs(0, 0, steps)
    jax.block_until_ready(next(stream))
    start, cpu = time.perf_counter(), _cpu_seconds()
    for inputs in stream:
      jax.block_until_ready(inputs)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    pairs = (steps - 1) * config.batch_size
    results.update(folder_stream_pairs_per_s=pairs / wall,
                   folder_stream_pairs_per_cpu_s=pairs / cpu)
  return results


def bench_browser(args) -> dict[str, float]:
  """Responsiveness of the hierarchy browser at --browser_images images."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tempfile  # pylint: disable=g-import-not-at-top
  from selenium import webdriver  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import folder_defaults  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_browser  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_files  # pylint: disable=g-import-not-at-top
  n, rng = args.browser_images, np.random.default_rng(0)
  counts = folder_defaults.cluster_counts(n)
  assignments = [rng.integers(0, counts[0], n)]
  parents = []
  for below, above in zip(counts, counts[1:]):
    parents.append(rng.integers(0, above, below))
    assignments.append(parents[-1][assignments[-1]])
  paths = [f"class_{i % 10}/photo_{i:07d}.jpg" for i in range(n)]
  tree = hierarchy_files.ImageHierarchy(
      paths, [f"class_{i % 10}" for i in range(n)], assignments,
      [rng.random(n).astype(np.float32) for _ in counts], parents,
      tuple(f"class_{k}" for k in range(10)))
  results = {}
  with tempfile.TemporaryDirectory() as out:
    start = time.perf_counter()
    hierarchy_files.write_sprites(
        rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8),
        os.path.join(out, "thumbs"))
    record = hierarchy_files.tree_record(tree)
    page = os.path.join(out, "index.html")
    with open(page, "w", encoding="utf-8") as f:
      f.write(hierarchy_browser.page(record, paths, tree.labels,
                                     tree.assignments, "benchmark"))
    results["browser_write_s"] = time.perf_counter() - start
    results["browser_page_mb"] = os.path.getsize(page) / 1e6
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage"):
      options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=webdriver.
                               ChromeService(shutil.which("chromedriver")))

    def timed(name, action):
      start = time.perf_counter()
      found = action()
      results[name] = (time.perf_counter() - start) * 1e3
      return found
    try:
      top = timed("browser_load_ms", lambda: (
          browser.get("file://" + page),
          browser.find_elements(By.CSS_SELECTOR, ".card"))[1])
      timed("browser_open_cluster_ms", lambda: (
          top[0].click(), browser.find_elements(By.CSS_SELECTOR, ".card")))
      while browser.find_elements(By.CSS_SELECTOR, ".card"):
        browser.find_elements(By.CSS_SELECTOR, ".card")[0].click()
      members = browser.find_elements(By.CSS_SELECTOR, ".member")
      results["browser_members_shown"] = float(len(members))
      timed("browser_back_to_top_ms", lambda: (
          browser.find_element(By.LINK_TEXT, "top level").click(),
          browser.find_elements(By.CSS_SELECTOR, ".card")))
      browser.find_element(By.ID, "search").send_keys(
          f"photo_{n - 1:07d}")
      hits = timed("browser_search_ms", lambda: (
          browser.find_element(By.ID, "go").click(),
          browser.find_elements(By.CSS_SELECTOR, "#results li"))[1])
      if not members or len(hits) != 1:
        raise RuntimeError(f"the browser showed {len(members)} members and "
                           f"{len(hits)} search results")
    finally:
      browser.quit()
  return results


def _load_config(path: str):
  import importlib.util  # pylint: disable=g-import-not-at-top
  name, _, variant = path.partition(":")
  spec = importlib.util.spec_from_file_location("benchmark_config", name)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant or None)


def bench_paths(args) -> dict[str, float]:
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import state as state_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import step as step_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import knn  # pylint: disable=g-import-not-at-top
  base = _load_config(args.config)
  if args.data_dir:
    base.data.data_dir = args.data_dir
  if args.manual_dir:
    base.data.manual_dir = args.manual_dir
  mesh = sharding.make_mesh()
  results = {}
  for pipeline in args.paths.split(","):
    config = base.copy_and_resolve_references()
    config.data.pipeline = pipeline
    if pipeline == "tfdata":
      sources.hide_accelerators_from_tensorflow(config.data)
    dataset = sources.open_dataset(config.data)
    data = dataset.pretrain_input(specs.pretrain_spec(config), mesh)
    parts, state = state_lib.new_state(config, data.num_examples, mesh,
                                       data.steps_per_epoch)
    model, tx, schedule = parts.model, parts.tx, parts.schedule
    hierarchy = synthetic.random_hierarchy(tuple(config.num_clusters),
                                           data.num_examples,
                                           config.embed_dim)
    state = step_lib.make_push_hierarchy(mesh)(
        state, jax.device_put(hierarchy, sharding.replicated(mesh)))
    holder = {"state": state}

    def timed_steps(step_fn, inputs, count):
      start, loss = time.perf_counter(), None
      for item in itertools.islice(inputs, count):
        holder["state"], metrics = step_fn(holder["state"], item)
        loss = metrics["loss"]
      jax.block_until_ready(loss)
      return count / (time.perf_counter() - start)

    steps = min(args.steps, data.steps_per_epoch - 3)
    train_step = step_lib.make_train_step(config, model, tx, schedule, mesh,
                                          make_batch=data.batch)
    inputs = iter(data.step_inputs(0, 0, steps + 3))
    timed_steps(train_step, inputs, 3)  # compile, fill the pipeline
    results[f"paths_{pipeline}"] = timed_steps(train_step, inputs, steps)
    if pipeline == "device":  # the step alone, on a fixed batch
      batch = jax.jit(data.batch)(data.epoch_inputs(0), jnp.int32(0))
      fixed_step = step_lib.make_train_step(config, model, tx, schedule,
                                            mesh)
      repeat = itertools.repeat(batch)
      timed_steps(fixed_step, repeat, 3)
      results["paths_synthetic"] = timed_steps(fixed_step, repeat, steps)
    state = holder["state"]
    embed = step_lib.make_feature_fn(model, mesh, "head")
    splits = (config.data.train_split, config.data.eval_split)
    for _ in range(2):  # the first pass includes compiling
      start = time.perf_counter()
      features_lib.split_features(embed, state.key_params, state.key_batch_stats,
                            dataset, splits[0], config.embed_batch_size,
                            mesh, "embed")
      results[f"paths_{pipeline}_embed_s"] = time.perf_counter() - start
      start = time.perf_counter()
      train, test = (features_lib.encoder_features(
          model, state.params, state.batch_stats, dataset, split,
          config.embed_batch_size, mesh, "backbone", "kNN")
                     for split in splits)
      knn.score(train, test, config.knn)
      results[f"paths_{pipeline}_knn_s"] = time.perf_counter() - start
  return results


UNITS = {"hcsc_head": "ms/step", "hcsc_head_first_call": "ms",
         "step": "pairs/s", "step_compile": "s", "step_ms": "ms/step",
         "step_fed_host": "pairs/s", "step_fed_prefetch": "pairs/s",
         "embed": "images/s",
         "input_pairs_per_s": "pairs/s",
         "input_pairs_per_cpu_s": "pairs per CPU-second",
         "input_cores_per_h100": "host cores", "eval_images_per_s": "images/s",
         "eval_images_per_cpu_s": "images per CPU-second",
         "input_mean_kb_per_file": "KB", "paths_tfdata": "steps/s",
         "paths_device": "steps/s", "paths_synthetic": "steps/s",
         "folder_cache_images_per_s": "images/s",
         "folder_cache_images_per_cpu_s": "images per CPU-second",
         "folder_stream_pairs_per_s": "pairs/s",
         "folder_stream_pairs_per_cpu_s": "pairs per CPU-second",
         "browser_page_mb": "MB", "browser_load_ms": "ms",
         "browser_open_cluster_ms": "ms", "browser_back_to_top_ms": "ms",
         "browser_search_ms": "ms", "browser_members_shown": "images",
         "torch_step": "pairs/s", "torch_step_ms": "ms/step",
         "torch_threads": "threads", "torch_fed": "pairs/s"}
BENCHMARKS = {"hcsc_head": bench_hcsc_head, "step": bench_step,
              "cluster": bench_cluster, "input": bench_input,
              "paths": bench_paths, "folder": bench_folder,
              "browser": bench_browser, "torch_step": bench_torch_step}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--parts", default="hcsc_head",
                      help=f"comma-separated subset of {sorted(BENCHMARKS)}")
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--queue", type=int, default=16384)
  parser.add_argument("--dim", type=int, default=128)
  parser.add_argument("--clusters", default="3000,2000,1000")
  parser.add_argument("--num_examples", type=int, default=1_281_167)
  parser.add_argument("--sampler", default="hash",
                      choices=("hash", "threefry"))
  parser.add_argument("--no_cache", action="store_true",
                      help="recompute the K x M queue normaliser every step")
  parser.add_argument("--arch", default="resnet50")
  parser.add_argument("--image_size", type=int, default=224)
  parser.add_argument("--dtype", default="float32",
                      choices=("float32", "bfloat16"))
  parser.add_argument("--no_donate", action="store_true",
                      help="step without donating the old state's buffers")
  parser.add_argument("--device_augment", action="store_true",
                      help="uint8 views augmented inside the step")
  parser.add_argument("--host_augment", action="store_true",
                      help="input part: float32 views augmented on the "
                      "host instead of the config's placement")
  parser.add_argument("--cluster_sizes", default="100000",
                      help="comma-separated N for the cluster part")
  parser.add_argument("--cluster_backends", default="faiss",
                      help="comma-separated k-means backends (faiss, jax)")
  parser.add_argument("--input_batches", type=int, default=20)
  parser.add_argument("--input_dir", default="/tmp/hcsc_input_benchmark",
                      help="where the input part's ImageNet is generated "
                      "(kept for later runs)")
  parser.add_argument("--input_images", type=int, default=2600,
                      help="training JPEGs the input part generates")
  parser.add_argument("--jpeg_dir", default=None,
                      help="use these JPEGs instead of generated ones")
  parser.add_argument("--input_config", default="configs/hcsc_r50_imagenet.py",
                      help="config whose data/augment blocks the input part "
                      "uses")
  parser.add_argument("--folder", default=None,
                      help="folder part: a folder of images (default: "
                      "generated photo-like JPEGs)")
  parser.add_argument("--folder_images", type=int, default=400,
                      help="folder part: JPEGs to generate")
  parser.add_argument("--photo_size", default="1600x1200",
                      help="folder part: generated JPEGs' WIDTHxHEIGHT")
  parser.add_argument("--folder_config", default="configs/image_folder.py",
                      help="folder part: config file[:variant] (preload "
                      "size, views)")
  parser.add_argument("--browser_images", type=int, default=100_000,
                      help="browser part: images in the hierarchy")
  parser.add_argument("--config", default="configs/fashion_mnist.py",
                      help="config file[:variant] of the paths part")
  parser.add_argument("--paths", default="tfdata,device",
                      help="input paths the paths part compares")
  parser.add_argument("--step_config", default=None,
                      help="step: a config file[:variant] whose network, "
                      "batch, queue, clusters and image size the step part "
                      "uses (e.g. configs/fashion_mnist.py, the demo)")
  parser.add_argument("--manual_dir", default=None,
                      help="paths: the data set's source files (Fashion-"
                      "MNIST idx files; default: Debian's location).")
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data_dir of the paths part's tf.data path")
  parser.add_argument("--torch_workers", type=int, default=2,
                      help="torch_step: DataLoader worker processes")
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--output", default="benchmark.json")
  args = parser.parse_args(argv)
  args.clusters = tuple(int(m) for m in args.clusters.split(","))
  parts = [p.strip() for p in args.parts.split(",") if p.strip()]
  unknown = [p for p in parts if p not in BENCHMARKS]
  if unknown:
    parser.error(f"unknown --parts {unknown}; choose from {sorted(BENCHMARKS)}")

  results = {}
  for part in parts:
    for name, value in BENCHMARKS[part](args).items():
      results[name] = value
      unit = UNITS.get(name, "s")
      print(f"{name}={value:.1f} {unit}", flush=True)
  record = {"results": results, "units": UNITS,
            "device": str(jax.devices()[0].device_kind),
            "backend": jax.default_backend(), "jax": jax.__version__,
            "host": platform.node(), "cpu_count": os.cpu_count(),
            "args": {k: v for k, v in vars(args).items()}}
  with open(args.output, "w") as f:
    json.dump(record, f, indent=2)
