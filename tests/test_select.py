"""`python -m hcsc_jax.select`: which images to label first, from a folder
run's whole collection or from an unlabelled folder, and the one-line
refusals; the same rules as evaluation protocols (`label_selection`)."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hcsc_jax.data.datasets import folder_index
from tests.folder_fixtures import CLASSES
from tests.folder_fixtures import write_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _select(*args):
  return subprocess.run([sys.executable, "-m", "hcsc_jax.select", *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=600,
                        env=dict(os.environ), check=False)


def _read(path):
  with open(path, encoding="utf-8") as f:
    return list(csv.DictReader(f))


def test_select_on_a_folder_run_lists_paths_from_the_whole_folder(
    folder_run, tmp_path):
  output = tmp_path / "todo" / "labels_todo.csv"
  done = _select(f"--workdir={folder_run}", "--budget=10",
                 "--strategy=prototypes", f"--output={output}")
  assert done.returncode == 0, done.stderr[-2000:]
  assert "10 of" in done.stdout and "images to label first" in done.stdout
  rows = _read(output)
  index = folder_index.load(os.path.join(folder_run, "folder_index.json"))
  order = [index.files[i] for i in index.split_rows("train")] + [
      index.files[i] for i in index.split_rows("test")]
  assert [int(r["rank"]) for r in rows] == list(range(1, 11))
  assert len({r["path"] for r in rows}) == 10
  for r in rows:
    assert r["path"] == order[int(r["index"])]
    assert r["held_out"] == ("1" if index.held_out[index.files.index(
        r["path"])] else "0")
    assert r["known_label"] in CLASSES and r["label"] == ""
    assert r["reason"].startswith(("nearest to level", "central in level"))
    assert all(r[f"level{l}_cluster"].isdigit() for l in range(3))
  # The same rule in-process gives the same images in the same order.
  from hcsc_jax.embedding import collection as collection_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import labels_todo  # pylint: disable=g-import-not-at-top
  placed = collection_lib.run_collection(folder_run, backbone=True)
  choice = labels_todo.choose(placed, "prototypes", "10")
  assert [int(r["index"]) for r in rows] == choice.rows.tolist()
  # Every rule, fixed by its seed.
  for strategy in ("typical", "random", "random_balanced"):
    first = labels_todo.choose(placed, strategy, "20%", seed=1)
    again = labels_todo.choose(placed, strategy, "20%", seed=1)
    np.testing.assert_array_equal(first.rows, again.rows)
    assert len(set(first.rows.tolist())) == round(0.2 * len(order))
  balanced = labels_todo.choose(placed, "random_balanced", "15")
  assert np.bincount(placed.labels[balanced.rows]).tolist() == [5, 5, 5]


def test_select_on_an_unlabelled_folder(folder_run, tmp_path):
  images = write_folder(str(tmp_path / "new photos"), per_class=4,
                        flat=True, seed=7)
  output = tmp_path / "todo.csv"
  done = _select(f"--workdir={folder_run}", "--budget=5",
                 "--strategy=typical", f"--input={images}",
                 f"--output={output}")
  assert done.returncode == 0, done.stderr[-2000:]
  assert "skipped 3 unusable file(s)" in done.stdout
  rows = _read(output)
  assert len(rows) == 5
  for r in rows:
    assert os.path.dirname(r["path"]) == images
    assert r["held_out"] == "1" and r["known_label"] == ""
    assert r["reason"].startswith("most typical of k-means cluster")
  refused = _select(f"--workdir={folder_run}", "--budget=5",
                    "--strategy=random_balanced", f"--input={images}",
                    f"--output={tmp_path / 'no.csv'}")
  assert refused.returncode == 1
  assert refused.stderr.strip().splitlines()[-1].startswith(
      "error: strategy 'random_balanced' needs every image's label")
  assert not (tmp_path / "no.csv").exists()


@pytest.mark.parametrize("flag, message", [
    ("--budget=0", "error: --budget=0 asks for 0 images: the budget must be "
     "at least 1."),
    ("--budget=100000", "error: --budget=100000 asks for 100000 images but "
     "the set holds"),
    ("--budget=some", "error: --budget='some' is not a budget"),
    ("--workdir=/no/such/run", "error: --workdir=/no/such/run does not "
     "exist; pass the folder of a pre-training run.")])
def test_bad_budgets_and_missing_workdirs_are_one_line(folder_run, tmp_path,
                                                       flag, message):
  args = {"--workdir": f"--workdir={folder_run}", "--budget": "--budget=5",
          "--output": f"--output={tmp_path / 'x.csv'}"}
  args[flag.split("=")[0]] = flag
  done = _select(*args.values())
  assert done.returncode == 1
  lines = [l for l in done.stderr.strip().splitlines()
           if l.startswith("error:")]
  assert len(lines) == 1 and lines[0].startswith(message), done.stderr[-800:]
  assert not (tmp_path / "x.csv").exists()


def test_evaluation_labels_the_selected_images(folder_run):
  """kNN with 20% of the labels picked by each rule, for the encoder and
  the raw pixels: result files per rule, the hierarchy used recorded."""
  from hcsc_jax.configs.eval import knn_image_folder  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import protocols  # pylint: disable=g-import-not-at-top
  results = {}
  for strategy in ("prototypes", "typical"):
    for encoder in ("checkpoint", "pixels"):
      cfg = knn_image_folder.get_config()
      cfg.label_fraction = 0.2
      cfg.label_selection = strategy
      cfg.encoder = encoder
      results[strategy, encoder] = protocols.evaluate(cfg, folder_run)
  for (strategy, encoder), result in results.items():
    name = f"knn_image_folder_20pct_by_{strategy}" + (
        "_pixels" if encoder == "pixels" else "")
    assert result["name"] == name
    with open(os.path.join(folder_run, "eval", name + ".json")) as f:
      assert json.load(f)["knn_top1"] == result["knn_top1"]
    assert result["label_selection"] == strategy
    assert 0 <= result["knn_top1"] <= 1
    assert len(result["classes_covered"]) == (1 if strategy == "prototypes"
                                              else 5)
    assert all(1 <= c <= 3 for c in result["classes_covered"])
  assert results["prototypes", "checkpoint"]["hierarchy"] == (
      "the checkpoint's HCSC hierarchy")
  assert results["prototypes", "pixels"]["hierarchy"].startswith(
      "hierarchical k-means")
  cfg = knn_image_folder.get_config()
  cfg.label_selection = "typical"
  from hcsc_jax import errors  # pylint: disable=g-import-not-at-top
  with pytest.raises(errors.ConfigError, match="give label_fraction"):
    protocols.evaluate(cfg, folder_run)
