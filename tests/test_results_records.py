"""The README's results table is the seeds study's, and the study's table
comes from the run records committed in results/: the study command
rebuilds `study.md` from them without training or evaluating anything, and
the README quotes its figures."""

import os
import re
import shutil

import pytest

from hcsc_jax.configs import fashion_mnist
from hcsc_jax.evals import protocols as protocols_lib
from hcsc_jax.studies import runs as study_runs
from hcsc_jax.runtime import reporting
from hcsc_jax.training import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join(ROOT, "results", "fashion_mnist_study")
PROTOCOLS = ["knn", "knn@1%", "knn@10%", "linear@1%", "linear@10%",
             "linear"]
# The README's columns: kNN then linear, each at 1%, 10%, 100% of labels.
README_ORDER = ["knn@1%", "knn@10%", "knn", "linear@1%", "linear@10%",
                "linear"]


def _refuse(*args, **kwargs):
  raise AssertionError("a record is missing: the study would train or "
                       f"evaluate ({args[1:]}, {kwargs})")


def _rebuild(records: str, protocols, tmp_path_factory):
  """(table, record) the study command makes from a copy of `records`,
  with training and evaluating refused."""
  workdir = str(tmp_path_factory.mktemp("records") / "study")
  shutil.copytree(records, workdir)
  config = fashion_mnist.get_config()
  config.knn.pixel_baseline = False  # as the study was run
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(train, "train_and_evaluate", _refuse)
    patch.setattr(protocols_lib, "evaluate", _refuse)
    table = study_runs.run_study(config, workdir, ["hcsc", "mocov2"],
                                 [0, 1, 2], protocols, None,
                                 study_runs.eval_config)
  return table, reporting.read_json_or_set_aside(
      os.path.join(workdir, "study.json"))


@pytest.fixture(scope="module", name="rebuilt")
def _rebuilt(tmp_path_factory):
  return _rebuild(RECORDS, PROTOCOLS, tmp_path_factory)


def test_records_rebuild_the_committed_study_tables(rebuilt, budget_rebuilt):
  for records, (table, _) in ((RECORDS, rebuilt),
                              (BUDGET_RECORDS, budget_rebuilt)):
    with open(os.path.join(records, "study.md")) as f:
      assert f.read() == table + "\n", records


def _section(path: str, heading: str) -> str:
  """The text of `path` from `heading` to the next heading of its level."""
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    text = f.read()
  start = text.index(heading)
  level = heading.split(" ")[0]
  end = text.find(f"\n{level} ", start + 1)
  return text[start:end if end > 0 else len(text)]


@pytest.mark.parametrize("path,heading", [
    ("README.md", "## Results"),
    ("docs/results.md", "## Fashion-MNIST: HCSC, MoCo v2 and the baselines")])
def test_readme_and_results_page_quote_the_studys_figures(rebuilt, path,
                                                          heading):
  _, record = rebuilt
  section = _section(path, heading)
  rows = {}
  for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 1 + len(PROTOCOLS):
      rows[cells[0]] = cells[1:]
  quoted = 0
  for variant, name in (("hcsc", "HCSC"), ("mocov2", "MoCo v2")):
    for protocol, cell in zip(README_ORDER, rows[name]):
      s = record["summary"][variant][protocol]
      assert cell == f"{s['mean']:.4f} ± {s['std']:.4f}", (name, protocol)
      quoted += 1
  for kind, name in (("random", "random init"), ("pixels", "raw pixels")):
    for protocol, cell in zip(README_ORDER, rows[name]):
      b = record["baselines"][kind][protocol]
      expected = f"{b['mean']:.4f}" + (f" ± {b['std']:.4f}" if b["std"]
                                       else "")
      assert cell == expected, (name, protocol)
      quoted += 1
  for protocol, cell in zip(README_ORDER, rows["HCSC − MoCo v2"]):
    d = record["differences"]["hcsc"][protocol]
    assert re.sub(r"\*", "", cell).startswith(
        f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"), protocol
    assert ("not separated" in cell) == (not d["separated"]), protocol
    quoted += 1
  assert quoted == 5 * len(PROTOCOLS)


# The label-budget study (results/label_budget_study): which images get the
# labels, picked by each rule, for the same runs' encoders and the pixels.
BUDGET_RECORDS = os.path.join(ROOT, "results", "label_budget_study")
BUDGET_PROTOCOLS = [
    "knn@0.1%:random_balanced", "knn@0.1%:random", "knn@0.1%:typical",
    "knn@0.1%:prototypes", "knn@1%", "knn@1%:random", "knn@1%:typical",
    "knn@1%:prototypes", "linear@0.1%:random_balanced", "linear@0.1%:typical",
    "linear@0.1%:prototypes", "linear@1%", "linear@1%:typical",
    "linear@1%:prototypes"]
RULE_NAMES = {"random_balanced": "random, class-balanced", "": (
    "random, class-balanced"), "random": "random", "typical": "typical",
              "prototypes": "prototypes"}


@pytest.fixture(scope="module", name="budget_rebuilt")
def _budget_rebuilt(tmp_path_factory):
  return _rebuild(BUDGET_RECORDS, BUDGET_PROTOCOLS, tmp_path_factory)


def test_results_page_quotes_the_label_budget_figures(budget_rebuilt):
  """Every cell of the results page's label-budget table: each encoder's
  mean ± std over seeds, the pixels' (evaluated with each seed's labels),
  and HCSC − pixels paired by seed with its interval and verdict."""
  from hcsc_jax.studies import statistics  # pylint: disable=g-import-not-at-top
  _, record = budget_rebuilt
  section = _section("docs/results.md", "## Which images get the labels")
  rows = []
  for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 6 and cells[2][:1].isdigit():
      rows.append(cells)
  assert len(rows) == len(BUDGET_PROTOCOLS)
  for protocol, cells in zip(BUDGET_PROTOCOLS, rows):
    name, fraction = study_runs.parse_protocol(protocol)
    assert cells[0].startswith(f"{'kNN' if name == 'knn' else 'linear'}, "
                               f"{fraction * 100:g}%"), (protocol, cells)
    assert cells[1] == RULE_NAMES[study_runs.label_selection(protocol)]
    for variant, cell in (("hcsc", cells[2]), ("mocov2", cells[3])):
      s = record["summary"][variant][protocol]
      assert cell == f"{s['mean']:.4f} ± {s['std']:.4f}", (protocol, variant)
    p = statistics.summary(record["pixels_by_seed"][protocol])
    assert cells[4] == f"{p['mean']:.4f} ± {p['std']:.4f}", protocol
    d = record["minus_pixels"]["hcsc"][protocol]
    assert re.sub(r"\*", "", cells[5]).startswith(
        f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"), protocol
    assert ("not separated" in cells[5]) == (not d["separated"]), protocol
