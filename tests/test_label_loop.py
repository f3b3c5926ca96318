"""The labelling loop end to end on the shared folder run, as a user runs
it: select the first batch, fill it in, predict the rest, review the
doubts, choose the next batch, correct labels in the browser, export the
labelled collection as class folders an image-folder run reads."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hcsc_jax.data.datasets import folder_index
from tests.folder_fixtures import CLASSES
from tests.trainer_fixtures import copied_workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _command(name, *args):
  return subprocess.run([sys.executable, "-m", f"hcsc_jax.{name}", *args],
                        cwd=ROOT, capture_output=True, text=True,
                        timeout=600, env=dict(os.environ), check=False)


def _read(path):
  with open(path, encoding="utf-8") as f:
    return list(csv.DictReader(f))


def _write(path, rows, fields=("path", "label")):
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
  return str(path)


def _known(folder_run):
  """{path: class} the folder's subfolders give (what a user would type)."""
  index = folder_index.load(os.path.join(folder_run, "folder_index.json"))
  return {f: f.split("/")[0] for f in index.files}


@pytest.fixture(scope="module", name="loop")
def _loop(folder_run, tmp_path_factory):
  """A copy of the folder run (the loop keeps embeddings in it), a first
  batch of 18 chosen by the default rule and filled in, and the
  predictions from it."""
  workdir = copied_workdir(folder_run, tmp_path_factory, "label_loop")
  out = tmp_path_factory.mktemp("loop_files")
  todo = out / "labels_todo.csv"
  done = _command("select", f"--workdir={workdir}", "--budget=18",
                  f"--output={todo}")
  assert done.returncode == 0, done.stderr[-3000:]
  known = _known(folder_run)
  rows = _read(todo)
  for r in rows:
    r["label"] = known[r["path"]]
  filled = _write(out / "filled.csv", rows, list(rows[0]))
  predictions = out / "predicted" / "predictions.csv"
  done = _command("predict", f"--workdir={workdir}", f"--labels={filled}",
                  f"--output={predictions}")
  assert done.returncode == 0, done.stderr[-3000:]
  return workdir, out, filled, predictions, done.stdout, known


def test_predict_labels_every_image_and_estimates_from_the_labels(loop):
  workdir, _, filled, predictions, stdout, known = loop
  rows = _read(predictions)
  assert len(rows) == len(known)  # training and held-out images alike
  assert {r["path"] for r in rows} == set(known)
  given = {r["path"]: r["label"] for r in _read(filled)}
  for r in rows:
    assert r["source"] == ("human" if r["path"] in given else "predicted")
    if r["path"] in given:
      assert r["label"] == given[r["path"]]
    else:
      assert r["label"] == r["predicted"]
    assert 0 <= float(r["confidence"]) <= 1
    assert 0 <= float(r["doubt"]) <= 1
    assert r["runner_up"] in CLASSES and r["held_out"] in ("0", "1")
    assert all(r[f"level{l}_cluster"].isdigit() for l in range(3))
  predicted = [r for r in rows if r["source"] == "predicted"]
  accuracy = np.mean([r["label"] == known[r["path"]] for r in predicted])
  assert accuracy > 0.6  # chance is 1/3; a 2-epoch smoke encoder
  summary = json.loads((predictions.parent / "predictions_summary.json")
                       .read_text(encoding="utf-8"))
  assert summary["human_labels"] == 18 and summary["classes"] == 3
  assert summary["predicted"] == len(known) - 18
  assert sum(c["human"] for c in summary["per_class"].values()) == 18
  assert "18 human labels in 3 classes" in stdout
  assert "estimated accuracy" in stdout and "5-fold" in stdout
  # 18 labels are too few for a 95% threshold, and the line says so.
  assert summary["confidence_threshold_95"] is None
  assert "fewer than 20 labelled images" in stdout
  doubtful = _read(predictions.parent / "doubtful_predictions.csv")
  assert len(doubtful) == min(500, len(predicted))
  assert all(r["label"] == "" for r in doubtful)
  doubts = [float(r["doubt"]) for r in doubtful]
  assert doubts == sorted(doubts, reverse=True)
  assert os.path.isdir(os.path.join(workdir, "embeddings"))


def test_a_typo_is_listed_and_a_later_file_corrects_it(loop, tmp_path):
  workdir, _, filled, _, _, known = loop
  rows = _read(filled)
  wrong = dict(rows[0], label=next(c for c in CLASSES
                                   if c != rows[0]["label"]))
  typo = _write(tmp_path / "typo.csv", [wrong] + rows[1:], list(rows[0]))
  predictions = tmp_path / "p" / "predictions.csv"
  done = _command("predict", f"--workdir={workdir}", f"--labels={typo}",
                  f"--output={predictions}")
  assert done.returncode == 0, done.stderr[-3000:]
  suspects = _read(predictions.parent / "doubtful_labels.csv")
  # Listed as a doubt, with the encoder suggesting its true class.
  listed = {r["path"]: r for r in suspects}
  assert wrong["path"] in listed, suspects
  assert listed[wrong["path"]]["suggested"] == known[wrong["path"]]
  doubts = [float(r["doubt"]) for r in suspects]
  assert doubts == sorted(doubts, reverse=True)
  fix = _write(tmp_path / "fix.csv", [rows[0]])
  done = _command("predict", f"--workdir={workdir}", f"--labels={typo}",
                  f"--labels={fix}", f"--output={predictions}")
  assert done.returncode == 0, done.stderr[-3000:]
  assert "1 label(s) corrected by a later --labels file" in done.stdout
  fixed = {r["path"]: r for r in _read(predictions)}
  assert fixed[wrong["path"]]["label"] == rows[0]["label"]


def test_next_batch_never_repeats_a_labelled_image(loop, tmp_path):
  """The command once (margin: it reads the predictions), then every rule
  in-process on the same collection (its embeddings kept by predict)."""
  from hcsc_jax.labelling import batches  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import collection_labels  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import next_batch  # pylint: disable=g-import-not-at-top
  workdir, _, filled, _, _, _ = loop
  labelled = {r["path"] for r in _read(filled)}
  out = tmp_path / "next.csv"
  done = _command("select", f"--workdir={workdir}", f"--labels={filled}",
                  "--budget=6", "--strategy=margin", f"--output={out}")
  assert done.returncode == 0, done.stderr[-3000:]
  assert "images not labelled yet to label next" in done.stdout
  chosen = [r["path"] for r in _read(out)]
  assert len(set(chosen)) == 6 and not set(chosen) & labelled
  collection, labels, _ = collection_labels.load(workdir, [filled])
  for rule in next_batch.RULES:  # (the folder's classes: the oracle)
    choice, _ = batches.choose(collection, rule, "6", 0, labels)
    paths = [collection.paths[r] for r in choice.rows]
    assert len(set(paths)) == 6 and not set(paths) & labelled, rule
    assert choice.rows.tolist() == batches.choose(
        collection, rule, "6", 0, labels)[0].rows.tolist(), rule


@pytest.mark.parametrize("rows,message", [
    ([{"path": "cats/nobody.png", "label": "cats"},
      {"path": "dogs/dogs_000.png", "label": "dogs"}],
     "line 2: 'cats/nobody.png' is not an image of the collection"),
    ([{"path": "cats/cats_000.png", "label": "cats"}],
     "every label .* is 'cats'"),
])
def test_bad_labels_end_predict_with_one_line_and_write_nothing(
    loop, tmp_path, rows, message):
  import re  # pylint: disable=g-import-not-at-top
  workdir = loop[0]
  bad = _write(tmp_path / "bad.csv", rows)
  output = tmp_path / "out" / "predictions.csv"
  done = _command("predict", f"--workdir={workdir}", f"--labels={bad}",
                  f"--output={output}")
  assert done.returncode == 1
  assert "Traceback" not in done.stderr
  (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
  assert re.search(message, line), line
  assert str(bad) in line
  assert not output.exists()
  assert not (output.parent / "doubtful_labels.csv").exists()


def test_export_gives_class_folders_an_image_folder_run_reads(loop):
  _, out, _, predictions, _, known = loop
  tree = out / "labelled"
  done = _command("export_labels", f"--predictions={predictions}",
                  f"--output={tree}", "--include=all")
  assert done.returncode == 0, done.stderr[-3000:]
  assert f"{len(known)} images in 3 class folders" in done.stdout
  index = folder_index.scan(str(tree))
  assert sorted(index.class_names) == sorted(CLASSES)
  assert len(index.files) == len(known)
  listed = _read(tree / "labels.csv")
  labels = {r["path"]: r["label"] for r in _read(predictions)}
  assert {r["path"]: r["label"] for r in listed} == labels
  for r in listed:
    assert r["file"].split("/")[0] == r["label"]
  # Without a threshold, `confident` says how to go on.
  done = _command("export_labels", f"--predictions={predictions}",
                  f"--output={out / 'confident'}")
  assert done.returncode == 1 and "--include=human" in done.stderr
  assert not (out / "confident").exists()


def test_the_browser_shows_labels_filters_and_exports_corrections(
    loop, tmp_path):
  from selenium.webdriver.common.by import By  # pylint: disable=g-import-not-at-top
  from selenium.webdriver.support.ui import Select  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_export  # pylint: disable=g-import-not-at-top
  from tests.browser_fixtures import downloaded, headless_chrome  # pylint: disable=g-import-not-at-top
  workdir, _, filled, _, _, known = loop
  page = hierarchy_export.write_hierarchy(workdir, str(tmp_path / "out"),
                                          budget="5", labels=[filled])
  predictions = {r["path"]: r for r in _read(tmp_path / "out" /
                                              "predictions.csv")}
  downloads = tmp_path / "downloads"
  downloads.mkdir()
  browser = headless_chrome(downloads)
  try:
    browser.get("file://" + page)
    assert "5 images to label next" in browser.title
    Select(browser.find_element(By.ID, "class-filter")).select_by_value(
        "owls")
    browser.find_element(By.ID, "filter-view").click()
    shown = browser.find_elements(By.CSS_SELECTOR, ".member")
    owls = [p for p, r in predictions.items() if r["label"] == "owls"]
    assert browser.find_element(By.ID, "filter-count").text == (
        f"{len(owls)} images")
    assert len(shown) == min(len(owls), 120)
    inputs = [m.find_element(By.CSS_SELECTOR, ".label-input") for m in shown]
    assert all(i.get_attribute("value") == "owls" for i in inputs)
    # Correct the first predicted owl to "dogs", by typing on its card.
    target = next(i for i in inputs if "predicted" in i.get_attribute(
        "class"))
    index = int(target.get_attribute("data-index"))
    target.clear()
    target.send_keys("dogs\n")
    browser.find_element(By.TAG_NAME, "h1").click()  # leave the field
    assert browser.find_element(By.ID, "edit-count").text == "1 edited"
    browser.find_element(By.ID, "doubt-filter").click()
    Select(browser.find_element(By.ID, "class-filter")).select_by_value("")
    browser.find_element(By.ID, "filter-view").click()
    doubtful = browser.find_elements(By.CSS_SELECTOR, ".member.doubtful")
    assert len(doubtful) == len(browser.find_elements(By.CSS_SELECTOR,
                                                      ".member"))
    browser.find_element(By.ID, "export-labels").click()
    exported = downloaded(downloads / "labels.csv")
    rows = _read(exported)
  finally:
    browser.quit()
  paths = list(predictions)
  expected = {r["path"]: r["label"] for r in _read(filled)}
  expected[paths[index]] = "dogs"
  assert {r["path"]: r["label"] for r in rows} == expected
  # The export goes back to predict as it is.
  again = tmp_path / "again" / "predictions.csv"
  done = _command("predict", f"--workdir={workdir}", f"--labels={exported}",
                  f"--output={again}")
  assert done.returncode == 0, done.stderr[-3000:]
  assert {r["path"]: r["label"] for r in _read(again)}[paths[index]] == "dogs"
  assert len(known) == len(paths)
