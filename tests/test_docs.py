"""Docstrings and the README cite sections of docs/method.md that exist,
and nothing cites documents the repository does not ship."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sources():
  for top in ("hcsc_jax", "configs", "launch", "tests"):
    for folder, _, files in os.walk(os.path.join(ROOT, top)):
      for name in files:
        if name.endswith((".py", ".sh")) and name != "test_docs.py":
          yield os.path.join(folder, name)
  yield os.path.join(ROOT, "README.md")


def test_method_references_name_existing_sections():
  with open(os.path.join(ROOT, "docs", "method.md")) as f:
    sections = set(re.findall(r"^## (\d+)\. ", f.read(), re.M))
  cited = 0
  for path in _sources():
    with open(path) as f:
      text = f.read()
    for first, last in re.findall(r"method\.md §(\d+)(?:-(\d+))?", text):
      for number in {first, last or first}:
        assert number in sections, (path, number)
        cited += 1
    assert not re.search(r"SPEC Secs?\.|\bDESIGN\.md", text), path
  assert cited > 10
