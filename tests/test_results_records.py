"""The README's results table is the seeds study's, and the study's table
comes from the run records committed in results/: the study command
rebuilds `study.md` from them without training or evaluating anything, and
the README quotes its figures."""

import os
import re
import shutil

import pytest

from configs import fashion_mnist
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


@pytest.fixture(scope="module", name="rebuilt")
def _rebuilt(tmp_path_factory):
  """(table, record) the study command makes from a copy of the records."""
  workdir = str(tmp_path_factory.mktemp("records") / "study")
  shutil.copytree(RECORDS, workdir)
  config = fashion_mnist.get_config()
  config.knn.pixel_baseline = False  # as the study was run
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(train, "train_and_evaluate", _refuse)
    patch.setattr(protocols_lib, "evaluate", _refuse)
    table = study_runs.run_study(config, workdir, ["hcsc", "mocov2"],
                                 [0, 1, 2], PROTOCOLS, None,
                                 study_runs.eval_config)
  return table, reporting.read_json_or_set_aside(
      os.path.join(workdir, "study.json"))


def test_records_rebuild_the_committed_study_table(rebuilt):
  table, _ = rebuilt
  with open(os.path.join(RECORDS, "study.md")) as f:
    assert f.read() == table + "\n"


def test_readme_quotes_the_studys_figures(rebuilt):
  _, record = rebuilt
  with open(os.path.join(ROOT, "README.md")) as f:
    readme = f.read()
  section = readme[readme.index("## Results so far"):]
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
