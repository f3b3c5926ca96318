"""A user's image folder: scanning, labels, held-out split, files that are
not clean images, the decode cache, the changed-folder refusal, and the
smoke config trained end to end on the device path."""

import csv
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from hcsc_jax import errors
from hcsc_jax.data.datasets import folder_defaults
from hcsc_jax.data.datasets import folder_index
from hcsc_jax.data.datasets import image_files
from hcsc_jax.data.datasets import image_folder
from hcsc_jax.training import train
from tests.folder_fixtures import BAD_FILES, CLASSES, folder_config
from tests.folder_fixtures import write_folder


def test_scan_finds_every_image_with_labels_and_a_fixed_holdout(folder):
  index = folder_index.scan(folder)
  per_class = 24 + 1 + 1  # images, the 16-bit one, one bad file each
  assert len(index.files) == per_class * len(CLASSES)
  assert index.class_names == CLASSES
  assert not any(f.endswith(".txt") for f in index.files)
  assert "cats/cats_001 é.PNG" in index.files  # unicode, space, upper case
  assert index.files == sorted(index.files)
  again = folder_index.scan(folder)
  np.testing.assert_array_equal(index.held_out, again.held_out)
  for label in range(len(CLASSES)):  # stratified: ~10% of each class
    assert index.held_out[index.labels == label].sum() == 3
  other = folder_index.scan(folder, seed=1)
  assert not np.array_equal(index.held_out, other.held_out)
  unlabelled = folder_index.scan(folder, labels="none")
  assert not unlabelled.has_labels and (unlabelled.labels == -1).all()


def test_flat_folders_have_no_labels_and_split_folders_are_used(tmp_path):
  flat = write_folder(str(tmp_path / "flat"), per_class=4, flat=True,
                      bad=False)
  index = folder_index.scan(flat)
  assert not index.has_labels
  with pytest.raises(errors.ConfigError, match="not one level below a "
                     "class folder"):
    folder_index.scan(flat, labels="subfolders")
  split = tmp_path / "split"
  write_folder(str(split / "train"), per_class=4, bad=False)
  write_folder(str(split / "test"), per_class=2, bad=False, seed=1)
  index = folder_index.scan(str(split))
  assert index.holdout_source == "folder test"
  assert index.class_names == CLASSES
  assert all(f.startswith("test/") == held
             for f, held in zip(index.files, index.held_out))


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "holds no image file"),
    (lambda p: (p.mkdir(), (p / "a").mkdir(), os.symlink(p, p / "a" / "loop"),
                Image.new("RGB", (4, 4)).save(p / "x.png")),
     "symlink loop"),
])
def test_unusable_folders_are_one_line(tmp_path, make, message):
  path = tmp_path / "f"
  make(path)
  with pytest.raises(errors.ConfigError, match=message):
    folder_index.scan(str(path))


def test_decoding_handles_modes_exif_and_large_images(folder, tmp_path):
  for name in ("cats/cats_002.png", "cats/cats_003.gif", "cats/cats_004.jpg",
               "cats/cats_16bit.png", "cats/cats_001 é.PNG"):
    image = image_files.decode(os.path.join(folder, name), 32)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
  # EXIF orientation 3 (180 degrees) is applied.
  pixels = np.zeros((20, 30, 3), np.uint8)
  pixels[:10] = 255  # white top half
  exif = Image.Exif()
  exif[0x0112] = 3
  Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif,
                               quality=95)
  rotated = image_files.decode(str(tmp_path / "rotated.jpg"), 20)
  assert rotated[:8].mean() < 60 and rotated[-8:].mean() > 200
  Image.fromarray(np.zeros((4000, 6000, 3), np.uint8)).save(
      tmp_path / "big.jpg")
  assert image_files.decode(str(tmp_path / "big.jpg"), 16).shape == (16, 16,
                                                                     3)
  for relative, reason in BAD_FILES.items():
    with pytest.raises(image_files.Unreadable, match=reason):
      image_files.decode(os.path.join(folder, relative), 16)


def test_bad_files_are_skipped_listed_and_the_cache_reused(folder, tmp_path):
  config = folder_config(folder, str(tmp_path / "cache"))
  images, loaded = image_folder.load(config.data)
  assert images.shape == (len(loaded.index.files), 16, 16, 3)
  assert sorted(p for p, _ in loaded.skipped) == sorted(BAD_FILES)
  again, reloaded = image_folder.load(config.data)
  np.testing.assert_array_equal(images, again)
  assert reloaded.index.files == loaded.index.files
  assert len(os.listdir(tmp_path / "cache")) == 2  # images + record


def test_the_input_path_follows_the_memory_budget(folder, tmp_path):
  """Within data.memory_budget_gb the images are read into memory; over
  it (or forced) they stay in the cache file and are read by rows."""
  from hcsc_jax.data.datasets.file_rows import FileRows  # pylint: disable=g-import-not-at-top
  cache = str(tmp_path / "cache")
  held, _ = image_folder.load(folder_config(folder, cache).data)
  assert isinstance(held, np.ndarray)
  over, _ = image_folder.load(folder_config(
      folder, cache, {"data.memory_budget_gb": 1e-6}).data)
  forced, _ = image_folder.load(folder_config(
      folder, cache, {"data.folder_input": "stream"}).data)
  kept, _ = image_folder.load(folder_config(
      folder, cache, {"data.folder_input": "memory",
                      "data.memory_budget_gb": 0.0}).data)
  assert isinstance(over, FileRows) and isinstance(forced, FileRows)
  assert isinstance(kept, np.ndarray)
  assert over.shape == held.shape and over.nbytes == held.nbytes
  np.testing.assert_array_equal(np.asarray(over), held)
  rows = np.array([7, 0, 7, 3, len(held) - 1])
  np.testing.assert_array_equal(over[rows], held[rows])
  np.testing.assert_array_equal(over[::5], held[::5])
  np.testing.assert_array_equal(over[3], held[3])
  part = over.subset(np.array([5, 2, 9]))
  np.testing.assert_array_equal(part[np.array([2, 0])], held[[9, 5]])
  with pytest.raises(errors.ConfigError, match=r"data.folder_input='disk'; "
                     r"choose one of \['auto', 'memory', 'stream'\]"):
    image_folder.load(folder_config(folder, cache,
                                    {"data.folder_input": "disk"}).data)


def test_both_input_paths_make_the_same_batches(folder, tmp_path):
  """Pre-training views, classifier views of a label subset and eval
  batches: the stream path (gathered on the host) equals the memory path
  (gathered in the step) exactly."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.device import in_memory  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data import specs  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  mesh = sharding.make_mesh()
  made = {}
  for path in ("memory", "stream"):
    config = folder_config(folder, str(tmp_path / "cache"),
                           {"data.folder_input": path})
    dataset = in_memory.InMemoryDataset(config.data)
    inputs = [dataset.pretrain_input(specs.pretrain_spec(config), mesh),
              dataset.classifier_input(config.data, 8, 3, (0.2, 1.0), 0.5,
                                       np.arange(0, 48, 2), mesh)]
    out = []
    for data in inputs:
      make = jax.jit(data.batch)
      first = data.steps_per_epoch + 1  # epoch 1, from its second step
      for k, step_input in enumerate(data.step_inputs(1, 1, 2)):
        out.append(jax.device_get(make(step_input, jnp.int32(first + k))))
    out.extend(jax.device_get(b) for b in dataset.eval_batches(
        "train", 16, mesh)[1])
    made[path] = out
  assert len(made["stream"]) == len(made["memory"]) > 4
  for got, want in zip(made["stream"], made["memory"]):
    assert sorted(got) == sorted(want)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_derived_cluster_counts_decrease_below_the_image_count():
  for n in (5, 60, 1000, 60000):
    counts = folder_defaults.cluster_counts(n)
    assert all(a > b for a, b in zip(counts, counts[1:]))
    assert counts[0] < n
  assert folder_defaults.cluster_counts(60000) == (3000, 600, 120)


def test_the_smoke_config_trains_and_a_changed_folder_is_refused(
    folder, tmp_path):
  copy = str(tmp_path / "copy")
  shutil.copytree(folder, copy)
  workdir = str(tmp_path / "run")
  config = folder_config(copy, str(tmp_path / "cache"), num_clusters=())
  summary = train.train_and_evaluate(config, workdir)
  assert summary["finished"] and 0 <= summary["knn_top1"] <= 1
  saved = folder_index.load(os.path.join(workdir, "folder_index.json"))
  assert len(saved.files) == 26 * 3 - 3
  with open(os.path.join(workdir, "skipped_files.tsv")) as f:
    assert len(f.read().strip().splitlines()) == 1 + len(BAD_FILES)
  os.remove(os.path.join(copy, "dogs", "dogs_005.jpeg"))
  with pytest.raises(errors.ConfigError, match=r"changed since this run "
                     r"indexed .*\(0 added, 1 removed, 0 changed\).*another "
                     "--workdir"):
    train.train_and_evaluate(folder_config(copy, str(tmp_path / "cache"),
                                           num_clusters=()), workdir)


def test_fashion_mnist_written_as_pngs_reads_back_with_its_split(
    idx_source, tmp_path):
  from hcsc_jax.data.datasets import fashion_mnist_png  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data.datasets import fashion_mnist_files  # pylint: disable=g-import-not-at-top
  output = str(tmp_path / "fm")
  counts = fashion_mnist_png.write_png_folder(idx_source, output)
  assert counts == {"train": 64, "test": 32}
  index = folder_index.scan(output)
  assert index.holdout_source == "folder test"
  assert len(index.class_names) == 10 and int(index.held_out.sum()) == 32
  images, labels = fashion_mnist_files.read_split(idx_source, "train")
  names = [n.replace("/", "-") for n in fashion_mnist_files.CLASS_NAMES]
  path = os.path.join(output, "train", names[int(labels[5])], "00005.png")
  np.testing.assert_array_equal(np.asarray(Image.open(path)), images[5])


def test_hierarchy_files_agree_with_each_other_and_the_checkpoint(
    folder_run, tmp_path):
  """Every usable image is in the files: the training images with the
  checkpoint's clusters, the held-out tenth at their nearest prototypes."""
  import csv  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_export as hierarchy  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  output = tmp_path / "out"
  page = hierarchy.write_hierarchy(folder_run, str(output))
  assert os.path.exists(page) and os.listdir(output / "thumbs")
  state, _, _, _ = workdirs.restore(folder_run)
  checkpoint = [np.asarray(a) for a in state.hierarchy.assignments]
  parents = [np.asarray(p) for p in state.hierarchy.parents]
  index = folder_index.load(os.path.join(folder_run, "folder_index.json"))
  train_files = [index.files[i] for i in index.split_rows("train")]
  held_files = [index.files[i] for i in index.split_rows("test")]
  assert held_files  # the folder has no test/: a tenth is held out
  with open(output / "assignments.csv", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  assert [r["path"] for r in rows] == train_files + held_files
  assert [r["held_out"] for r in rows] == (["0"] * len(train_files)
                                           + ["1"] * len(held_files))
  trained = len(train_files)
  levels = len(checkpoint)
  for level in range(levels):
    got = np.array([int(r[f"level{level}_cluster"]) for r in rows])
    np.testing.assert_array_equal(got[:trained], checkpoint[level])
    if level:  # held-out images climb the parent chain
      below = np.array([int(r[f"level{level - 1}_cluster"]) for r in rows])
      np.testing.assert_array_equal(got[trained:],
                                    parents[level - 1][below[trained:]])
    assert all(-1.0 <= float(r[f"level{level}_similarity"]) <= 1.0
               for r in rows)
  # A held-out image sits at its most similar level-0 prototype: no
  # prototype is nearer than the one it was given.
  from hcsc_jax.embedding import collection as collection_lib  # pylint: disable=g-import-not-at-top
  placed = collection_lib.run_collection(folder_run)
  level0 = np.asarray(state.hierarchy.centroids[0])
  best = np.max(placed.head[trained:] @ level0.T, axis=1)
  np.testing.assert_allclose(placed.similarities[0][trained:], best,
                             rtol=1e-6)
  assert {r["label"] for r in rows} == set(CLASSES)
  with open(output / "tree.json") as f:
    tree = json.load(f)
  for level, record in enumerate(tree["levels"]):
    sizes = [p["size"] for p in record["prototypes"]]
    assert sum(sizes) == len(rows)
    members = sorted(i for p in record["prototypes"] for i in p["members"])
    assert members == list(range(len(rows)))
    for p in record["prototypes"]:
      assert p["size"] == len(p["members"])
      if level + 1 < levels:
        assert p["parent"] == parents[level][p["id"]]
        assert 0 <= p["parent"] < len(tree["levels"][level + 1]["prototypes"])
      else:
        assert p["parent"] is None
      sims = [float(rows[i][f"level{level}_similarity"]) for i in p["members"]]
      assert sims == sorted(sims, reverse=True)  # most central first
      assert p["central"] == [rows[i]["path"] for i in p["members"][:8]]
  with open(output / "labels_todo.csv", encoding="utf-8") as f:
    todo = list(csv.DictReader(f))
  assert len(todo) == max(1, round(0.01 * len(rows)))  # the default 1%
  assert todo[0]["path"] in train_files + held_files and not todo[0]["label"]


def test_the_hierarchy_browser_walks_down_to_images_and_back(folder_run,
                                                             tmp_path):
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_export as hierarchy  # pylint: disable=g-import-not-at-top
  from tests.browser_fixtures import downloaded, headless_chrome  # pylint: disable=g-import-not-at-top
  page = hierarchy.write_hierarchy(folder_run, str(tmp_path / "out"),
                                   budget="12", strategy="prototypes")
  downloads = tmp_path / "downloads"
  downloads.mkdir()
  browser = headless_chrome(downloads)
  try:
    browser.get("file://" + page)
    top = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert top and all(c.get_attribute("data-level") == "2" for c in top)
    top[0].click()
    while True:
      cards = browser.find_elements(By.CSS_SELECTOR, ".card")
      if not cards:
        break
      cards[0].click()
    members = browser.find_elements(By.CSS_SELECTOR, ".member")
    assert members
    thumb = members[0].find_element(By.CSS_SELECTOR, ".thumb")
    assert "sheet_0.png" in thumb.value_of_css_property("background-image")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".crumb")) == 3
    browser.find_element(By.LINK_TEXT, "top level").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, ".card")) == len(top)
    index = folder_index.load(os.path.join(folder_run, "folder_index.json"))
    wanted = [index.files[i] for i in index.split_rows("train")
              if index.files[i].startswith("owls/")][0]
    browser.find_element(By.ID, "search").send_keys(
        os.path.splitext(os.path.basename(wanted))[0])
    browser.find_element(By.ID, "go").click()
    (result,) = browser.find_elements(By.CSS_SELECTOR, "#results li")
    assert result.text.startswith(wanted)
    assert "level 0:" in result.text and "level 2:" in result.text
    # The images to label first: counted on the top cards, listed in
    # order, and exported as the very file the command wrote.
    browser.find_element(By.LINK_TEXT, "top level").click()
    assert browser.find_element(By.ID, "todo-count").text.startswith(
        "12 images to label first")
    counts = [int(b.text.split()[0]) for b in browser.find_elements(
        By.CSS_SELECTOR, ".card .badge")]
    assert sum(counts) == 12
    with open(tmp_path / "out" / "labels_todo.csv", encoding="utf-8") as f:
      todo = list(csv.DictReader(f))
    browser.find_element(By.ID, "todo-view").click()
    marked = browser.find_elements(By.CSS_SELECTOR, ".member.to-label")
    assert [m.get_attribute("data-index") for m in marked] == [
        r["index"] for r in todo]
    assert marked[0].find_element(By.CSS_SELECTOR, ".badge").text == (
        "label #1")
    browser.find_element(By.ID, "export").click()
    exported = downloaded(downloads / "labels_todo.csv")
    assert exported.read_bytes() == (tmp_path / "out" /
                                     "labels_todo.csv").read_bytes()
  finally:
    browser.quit()


def test_embedding_files_equals_the_runs_own_features(folder_run, folder,
                                                      tmp_path):
  """The folder's files through `embed` give the same features as the
  run's evaluation path gives its training images; the nearest training
  image of each is itself."""
  from hcsc_jax.embedding import files as file_features  # pylint: disable=g-import-not-at-top
  index = folder_index.load(os.path.join(folder_run, "folder_index.json"))
  names = [index.files[i] for i in index.split_rows("train")]
  listing = tmp_path / "list.txt"
  listing.write_text("".join(os.path.join(folder, n) + "\n"
                             for n in names[:10])
                     + os.path.join(folder, "cats", "empty.jpg") + "\n")
  paths = file_features.input_paths(str(listing))
  features, kept, skipped, run = file_features.embed_files(folder_run, paths)
  assert kept == [os.path.join(folder, n) for n in names[:10]]
  assert [os.path.basename(p) for p, _ in skipped] == ["empty.jpg"]
  train, train_names = file_features.training_features(folder_run, *run,
                                                       "backbone")
  assert train_names == names
  np.testing.assert_allclose(features, train[:10], rtol=1e-5, atol=1e-5)
  top, sims = file_features.nearest(features, train, 3)
  np.testing.assert_array_equal(top[:, 0], np.arange(10))
  np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)
  assert file_features.input_paths(os.path.join(folder, "owls")) == sorted(
      os.path.join(folder, "owls", n) for n in os.listdir(
          os.path.join(folder, "owls")) if image_files.is_image_name(n))
  (tmp_path / "notes.doc").write_text("x")
  with pytest.raises(errors.ConfigError, match="neither a folder"):
    file_features.input_paths(str(tmp_path / "notes.doc"))


@pytest.mark.parametrize("name, keys", [
    ("knn_image_folder", ("knn_top1",)),
    ("linear_image_folder", ("top1", "top5")),
    ("clustering_image_folder", ("nmi_4", "ami_4")),
])
def test_evaluate_runs_on_a_labelled_folder(folder_run, name, keys):
  import importlib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import protocols  # pylint: disable=g-import-not-at-top
  cfg = importlib.import_module(f"hcsc_jax.configs.eval.{name}").get_config()
  cfg.batch_size = 32
  cfg.knn.ks = (1, 3)
  cfg.clustering.num_clusters = (4,)
  result = protocols.evaluate(cfg, folder_run)
  for key in keys:
    assert 0.0 <= result[key] <= 1.0
  assert os.path.exists(os.path.join(folder_run, "eval", f"{name}.json"))


def test_a_stopped_folder_run_resumes_bitwise(folder, folder_run, tmp_path,
                                              monkeypatch):
  """Stopped mid-epoch 1 (after its clustering) and resumed on the stream
  path (images read from disk batch by batch), a run on the folder ends
  with exactly the uninterrupted in-memory run's state: the stream path
  equals the memory path bit for bit, across a stop. (Stop and resume on
  the memory path is the device path's crash chain, test_train.py.)"""
  folder_input = "stream"
  import jax  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime.preemption import PreemptionWatcher  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "stopped")
  cache = str(tmp_path / "cache")
  polls = {"count": 0}

  def stop_once(self):  # pylint: disable=unused-argument
    polls["count"] += 1
    return polls["count"] == 6

  monkeypatch.setattr(PreemptionWatcher, "requested", property(stop_once))
  path = {"data.folder_input": folder_input}
  first = train.train_and_evaluate(folder_config(folder, cache, path), workdir)
  assert first["preempted"]
  monkeypatch.undo()
  summary = train.train_and_evaluate(folder_config(folder, cache, path),
                                     workdir)
  assert summary["finished"] and 0 <= summary["knn_top1"] <= 1

  def leaves(directory):
    run = train.Run(folder_config(folder, cache), directory)
    return jax.tree.leaves(jax.device_get((
        run.state.params, run.state.key_params, run.state.queue,
        run.state.batch_stats, run.state.hierarchy)))
  for got, want in zip(leaves(workdir), leaves(folder_run)):
    np.testing.assert_array_equal(got, want)


def test_the_folder_and_browser_benchmarks_report_what_ran(folder, tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  from hcsc_jax.benchmark import run as benchmark  # pylint: disable=g-import-not-at-top
  output = tmp_path / "bench.json"
  benchmark.main(["--parts=folder,browser", f"--folder={folder}",
                  "--folder_config=configs/image_folder.py:smoke",
                  "--batch=8", "--input_batches=4", "--browser_images=600",
                  f"--output={output}"])
  results = json.loads(output.read_text())["results"]
  for name in ("folder_cache_images_per_cpu_s", "folder_stream_pairs_per_s",
               "folder_stream_pairs_per_cpu_s", "browser_load_ms",
               "browser_search_ms"):
    assert results[name] > 0, name
  assert results["browser_members_shown"] >= 1
