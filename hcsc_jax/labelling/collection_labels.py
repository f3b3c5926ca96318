"""A run's collection (or the --input images) with the user's labels on
it: what `predict`, `select --labels` and `hierarchy --labels` start from.
The label files are checked before anything is embedded."""

from __future__ import annotations

import os
from typing import Optional, Sequence

from hcsc_jax.errors import ConfigError
from hcsc_jax.labelling import labels_file


def load(workdir: str, label_files: Optional[Sequence[str]],
         input_path: Optional[str] = None, step=None, cache: bool = True,
         require_hierarchy: bool = False):
  """(collection with backbone features, UserLabels or None, skipped
  files). `cache` reuses the embeddings kept in the workdir (and then the
  collection carries no thumbnails of --input images)."""
  from hcsc_jax.embedding import collection as collection_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.embedding import files as files_lib  # pylint: disable=g-import-not-at-top
  given = labels_file.parse(label_files) if label_files else None
  if not os.path.isdir(workdir):
    raise ConfigError(f"--workdir={workdir} does not exist; pass the "
                      "folder of a pre-training run.")
  skipped = []
  if input_path:
    collection, skipped = collection_lib.files_collection(
        workdir, files_lib.input_paths(input_path), step, True, cache)
  else:
    collection = collection_lib.run_collection(
        workdir, step, True, require_hierarchy=require_hierarchy,
        cache=cache)
  labels = None
  if given is not None:
    what = (f"--input={input_path}" if input_path
            else f"the collection of {workdir}")
    labels = labels_file.match(given, collection.paths, collection.root,
                               what)
  return collection, labels, skipped
