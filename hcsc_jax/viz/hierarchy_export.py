"""The hierarchy command's work (`python -m hcsc_jax.hierarchy`): place
every usable image of a run's collection in its hierarchy (training images
as the last clustering assigned them, held-out ones at their nearest
prototypes) and write assignments.csv, tree.json, labels_todo.csv (the
images to label first) and the offline browser (index.html, thumbs/).
"""

from __future__ import annotations

import os

DEFAULT_BUDGET = "1%"


def write_hierarchy(workdir: str, output: str, step=None,
                    budget=DEFAULT_BUDGET, strategy: str = "prototypes",
                    seed: int = 0) -> str:
  """Writes the files; returns the path of index.html. `budget` and
  `strategy` choose the images the page marks to label first."""
  from hcsc_jax.embedding import collection as collection_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import label_budget  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import labels_todo  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import output_files  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_browser  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_files  # pylint: disable=g-import-not-at-top
  label_budget.check_strategy(strategy)
  collection = collection_lib.run_collection(
      workdir, step, backbone=strategy == "typical")
  choice = labels_todo.choose(collection, strategy, budget, seed)
  output = output_files.prepare_folder(output)
  tree = hierarchy_files.build(collection)
  record = hierarchy_files.tree_record(tree)
  todo = labels_todo.rows(collection, choice)
  levels = len(collection.assignments)
  for name, write in (("assignments.csv", lambda p: hierarchy_files.
                       write_assignments(tree, p)),
                      ("tree.json", lambda p: hierarchy_files.write_tree(
                          record, p)),
                      ("labels_todo.csv", lambda p: labels_todo.write(
                          todo, levels, p))):
    with output_files.atomic_path(os.path.join(output, name)) as tmp:
      write(tmp)
  hierarchy_files.write_sprites(collection.images,
                                os.path.join(output, "thumbs"))
  page = hierarchy_browser.page(
      record, tree, todo, labels_todo.columns(levels),
      f"{collection.title}; {len(todo)} images to label first "
      f"({strategy})")
  path = os.path.join(output, "index.html")
  with output_files.atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(page)
  return path
