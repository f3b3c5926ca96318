"""The hierarchy command's work (`python -m hcsc_jax.hierarchy`): embed a
run's training images with the checkpoint's key encoder and write
assignments.csv, tree.json and the offline browser (index.html, thumbs/).
"""

from __future__ import annotations

import os


def write_hierarchy(workdir: str, output: str, step=None) -> str:
  """Writes the files; returns the path of index.html."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import output_files  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import step as step_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_browser  # pylint: disable=g-import-not-at-top
  from hcsc_jax.viz import hierarchy_files  # pylint: disable=g-import-not-at-top
  state, position, config, model = workdirs.restore(workdir, step)
  if not bool(state.hierarchy_active):
    raise ConfigError(
        f"{workdir} step {int(state.step)} has no hierarchy yet: it is built "
        f"from epoch {config.warmup_epochs} on; train longer or pass a later "
        "--step.")
  if config.data.pipeline != "device":
    raise ConfigError(
        f"{workdir} trained on data.pipeline={config.data.pipeline!r}; the "
        "hierarchy command reads images from the in-memory device path "
        "(image folders, Fashion-MNIST).")
  output = output_files.prepare_folder(output)
  dataset = sources.open_dataset(config.data)
  split = config.data.train_split
  mesh = sharding.make_mesh()
  embed = step_lib.make_feature_fn(model, mesh, "head")
  features, labels = features_lib.split_features(
      embed, state.key_params, state.key_batch_stats, dataset, split,
      config.embed_batch_size, mesh, "embedding the images")
  folder = getattr(dataset, "folder", None)
  if folder is not None:
    paths = [folder.index.files[i] for i in folder.index.split_rows(split)]
  else:
    paths = [f"{split}/{i:06d}" for i in range(len(labels))]
  hierarchy = state.hierarchy
  tree = hierarchy_files.build(paths, labels, dataset.class_names,
                               np.asarray(features, np.float32), hierarchy)
  record = hierarchy_files.tree_record(tree)
  for name, write in (("assignments.csv", lambda p: hierarchy_files.
                       write_assignments(tree, p)),
                      ("tree.json", lambda p: hierarchy_files.write_tree(
                          record, p))):
    with output_files.atomic_path(os.path.join(output, name)) as tmp:
      write(tmp)
  hierarchy_files.write_sprites(dataset.splits[split].images,
                                os.path.join(output, "thumbs"))
  title = (f"HCSC hierarchy of {folder.index.root if folder else workdir}, "
           f"checkpoint after epoch {position.epoch}")
  page = hierarchy_browser.page(record, paths, tree.labels, tree.assignments,
                                title)
  path = os.path.join(output, "index.html")
  with output_files.atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(page)
  return path
