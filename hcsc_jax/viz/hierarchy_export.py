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
                    budget=DEFAULT_BUDGET, strategy: str | None = None,
                    seed: int = 0, labels=None,
                    predictor: str | None = None) -> str:
  """Writes the files; returns the path of index.html. `budget` and
  `strategy` choose the images the page marks to label next; with
  `labels` (the user's CSVs) the page also shows every image's human or
  predicted label, filters by class and doubt, and exports corrections."""
  from hcsc_jax.evals import labels_todo  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import batches  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import collection_labels  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import next_batch  # pylint: disable=g-import-not-at-top
  from hcsc_jax.labelling import prediction  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import output_files  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_browser  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_files  # pylint: disable=g-import-not-at-top
  strategy = strategy or batches.DEFAULT_RULE
  next_batch.check_rule(strategy)
  collection, user_labels, _ = collection_labels.load(
      workdir, labels, None, step, require_hierarchy=True)
  choice, predictions = batches.choose(
      collection, strategy, budget, seed, user_labels,
      predictor or prediction.DEFAULT_PREDICTOR)
  output = output_files.prepare_folder(output)
  tree = hierarchy_files.build(collection)
  record = hierarchy_files.tree_record(tree)
  todo = labels_todo.rows(collection, choice)
  levels = len(collection.assignments)
  files = [("assignments.csv", lambda p: hierarchy_files.write_assignments(
      tree, p)), ("tree.json", lambda p: hierarchy_files.write_tree(
          record, p)), ("labels_todo.csv", lambda p: labels_todo.write(
              todo, levels, p))]
  if predictions is not None:
    files.append(("predictions.csv", lambda p: prediction.write_predictions(
        predictions, collection, p)))
  for name, write in files:
    with output_files.atomic_path(os.path.join(output, name)) as tmp:
      write(tmp)
  hierarchy_files.write_sprites(collection.images,
                                os.path.join(output, "thumbs"))
  verb = "next" if user_labels is not None else "first"
  page = hierarchy_browser.page(
      record, tree, todo, labels_todo.columns(levels),
      f"{collection.title}; {len(todo)} images to label {verb} "
      f"({strategy})", hierarchy_browser.label_data(predictions))
  path = os.path.join(output, "index.html")
  with output_files.atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(page)
  return path
