"""The label-loop study's tables come from the records committed in
results/label_loop_study: study.md is what the tables module makes of
them, and the README, the labelling page and the results page quote its
rounds table."""

import os

from hcsc_jax.studies import label_rounds
from hcsc_jax.studies import label_rounds_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join(ROOT, "results", "label_loop_study")


def test_every_rule_has_three_seeds_and_the_full_schedule():
  records = label_rounds.read_records(RECORDS)
  assert set(records) == set(label_rounds.RULES)
  for rule, by_seed in records.items():
    assert sorted(by_seed) == [0, 1, 2], rule
    for record in by_seed.values():
      assert [r["labelled"] for r in record["rounds"]] == list(
          label_rounds.SCHEDULE), rule


def test_study_md_is_rebuilt_from_the_records():
  records = label_rounds.read_records(RECORDS)
  with open(os.path.join(RECORDS, "study.md"), encoding="utf-8") as f:
    assert f.read() == label_rounds_table.markdown(records)


def test_readme_and_labelling_page_quote_the_rounds_table():
  table = label_rounds_table.summary_table(label_rounds.read_records(RECORDS))
  for path in ("README.md", "docs/labelling.md", "docs/results.md"):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
      text = f.read()
    for line in table:
      assert line in text, (path, line)
