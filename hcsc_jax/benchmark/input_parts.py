"""The `input`, `folder` and `browser` parts: ImageNet through the
trainer's TrainData, an image folder's decode cache and stream path, and
the hierarchy browser in headless Chromium."""

from __future__ import annotations

import itertools
import json
import os
import time

import jax
import numpy as np

from hcsc_jax.benchmark import config_files
from hcsc_jax.benchmark import timing
from hcsc_jax.data import specs


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
  config = config_files.load_config(args.input_config)
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


def bench_folder(args) -> dict[str, float]:
  """Decode-cache build and stream-path gathering of an image folder."""
  import tempfile  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.device import in_memory  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  root = _photo_folder(args)
  config = config_files.load_config(args.folder_config)
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
    start, cpu = time.perf_counter(), timing.cpu_seconds()
    for inputs in stream:
      jax.block_until_ready(inputs)
    wall, cpu = time.perf_counter() - start, timing.cpu_seconds() - cpu
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
  import types  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import folder_defaults  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import label_budget  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import labels_todo  # pylint: disable=g-import-not-at-top
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
      tuple(f"class_{k}" for k in range(10)), np.zeros(n, bool))
  # 1% of the images marked to label first, as the command marks them.
  images = types.SimpleNamespace(
      paths=paths, labels=np.arange(n) % 10, class_names=tree.class_names,
      held_out=tree.held_out, assignments=assignments)
  todo = labels_todo.rows(images, label_budget.by_prototypes(
      assignments, tree.similarities, parents, max(1, n // 100)))
  results = {}
  with tempfile.TemporaryDirectory() as out:
    start = time.perf_counter()
    hierarchy_files.write_sprites(
        rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8),
        os.path.join(out, "thumbs"))
    record = hierarchy_files.tree_record(tree)
    page = os.path.join(out, "index.html")
    with open(page, "w", encoding="utf-8") as f:
      f.write(hierarchy_browser.page(record, tree, todo,
                                     labels_todo.columns(len(counts)),
                                     "benchmark"))
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
