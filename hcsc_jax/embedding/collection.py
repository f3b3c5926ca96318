"""A user's whole collection placed in a run's hierarchy: every usable
image, not only the training share.

A folder run without a test/ sibling holds out a tenth of the images for
kNN; HCSC's last clustering assigned only the others. Here the held-out
images (and, with `files`, any image files) are embedded by the key
encoder, in the space the hierarchy lives in, and go to their nearest
level-0 prototype and up its parent chain, as HCSC chains the levels;
they are marked as held out. Training images keep the checkpoint's own
assignments.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from hcsc_jax.errors import ConfigError


@dataclasses.dataclass
class Collection:
  paths: list[str]                 # one per image
  labels: np.ndarray               # [N] class index, -1 when unknown
  class_names: tuple[str, ...]
  held_out: np.ndarray             # [N] bool: not clustered in training
  head: np.ndarray                 # [N, d] L2-normalised key embeddings
  assignments: list[np.ndarray]    # per level [N] prototype (none: no tree)
  similarities: list[np.ndarray]   # per level [N] cosine to it
  parents: list[np.ndarray]        # per level but the top [M_l]
  images: object                   # uint8 [N, H, W, C] (thumbnails) or None
  title: str                       # where the images and the tree are from
  backbone: np.ndarray | None = None  # [N, D] query-encoder features
  kmeans_backend: str = "faiss"    # the run's: what `typical` clusters with
  root: str | None = None          # the image folder relative paths are in

  @property
  def has_hierarchy(self) -> bool:
    return bool(self.assignments)

  def hierarchy(self):
    """(assignments, similarities, parents) for evals/label_budget.py."""
    return self.assignments, self.similarities, self.parents


def nearest_prototypes(head: np.ndarray, centroids, parents
                       ) -> list[np.ndarray]:
  """Per level, each embedding's prototype: the most similar level-0
  centroid, then its parent chain."""
  level0 = np.asarray(centroids[0], np.float32)
  out = [np.empty(head.shape[0], np.int64)]
  for start in range(0, head.shape[0], 8192):
    sims = head[start:start + 8192] @ level0.T
    out[0][start:start + 8192] = np.argmax(sims, axis=1)
  for parent in parents:
    out.append(np.asarray(parent, np.int64)[out[-1]])
  return out


def _place(head: np.ndarray, tree, trained: np.ndarray | None):
  """(assignments, similarities, parents): the checkpoint's assignments
  for the rows `trained` names (in its order), nearest prototypes for
  the rest."""
  if tree is None:
    return [], [], []
  assignments = nearest_prototypes(head, tree.centroids, tree.parents)
  if trained is not None:
    for level, own in enumerate(tree.assignments):
      assignments[level][trained] = np.asarray(own, np.int64)
  similarities = [np.einsum("nd,nd->n", head, np.asarray(c, np.float32)[a])
                  for c, a in zip(tree.centroids, assignments)]
  return assignments, similarities, [np.asarray(p, np.int64)
                                     for p in tree.parents]


def _unit(x) -> np.ndarray:
  x = np.asarray(x, np.float32)
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _embed(restored, dataset, split: str, batch: int, mesh,
           backbone: bool):
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  state, _, _, model = restored
  head, labels = features_lib.encoder_features(
      model, state.key_params, state.key_batch_stats, dataset, split, batch,
      mesh, "head", f"embedding {split} (key encoder)")
  query = None
  if backbone:
    query, _ = features_lib.encoder_features(
        model, state.params, state.batch_stats, dataset, split, batch, mesh,
        "backbone", f"embedding {split} (backbone)")
    query = np.asarray(query, np.float32)
  return _unit(head), np.asarray(labels), query


class _Cache:
  """Embeddings by one checkpoint kept in the workdir (`layout.
  embeddings_cache`), so a second predict or select embeds only what it
  has not seen. A workdir that cannot be written just goes uncached."""

  def __init__(self, path: str | None):
    self.path, self.arrays, self.changed = path, {}, False
    if path is not None and os.path.exists(path):
      try:
        with np.load(path, allow_pickle=False) as data:
          self.arrays = {k: data[k] for k in data.files}
      except (OSError, ValueError) as e:
        from hcsc_jax.runtime import reporting  # pylint: disable=g-import-not-at-top
        reporting.warn(f"{path} is unreadable ({e}); embedding again.")

  def get(self, key: str):
    return self.arrays.get(key)

  def put(self, **arrays) -> None:
    self.arrays.update(arrays)
    self.changed = True

  def save(self) -> None:
    if self.path is None or not self.changed:
      return
    from hcsc_jax.runtime import reporting  # pylint: disable=g-import-not-at-top
    tmp = self.path + ".partial.npz"
    try:
      os.makedirs(os.path.dirname(self.path), exist_ok=True)
      np.savez(tmp, **self.arrays)
      os.replace(tmp, self.path)
    except OSError as e:
      reporting.warn(f"could not keep the embeddings in {self.path} "
                     f"({e.strerror or e}); the next command embeds again.")
      if os.path.exists(tmp):
        os.remove(tmp)


def _cache(workdir: str, state, what: str, use: bool) -> _Cache:
  from hcsc_jax.workdir import layout  # pylint: disable=g-import-not-at-top
  return _Cache(layout.embeddings_cache(workdir, int(state.step), what)
                if use else None)


def _cached_embed(cache: _Cache, restored, dataset, split: str, batch: int,
                  mesh, backbone: bool):
  head, labels = cache.get(f"{split}_head"), cache.get(f"{split}_labels")
  query = cache.get(f"{split}_backbone")
  if head is None or (backbone and query is None):
    head, labels, query = _embed(restored, dataset, split, batch, mesh,
                                 backbone)
    cache.put(**{f"{split}_head": head, f"{split}_labels": labels},
              **({f"{split}_backbone": query} if backbone else {}))
  return head, labels, query if backbone else None


def _tree(state):
  return state.hierarchy.to_host() if bool(state.hierarchy_active) else None


def run_collection(workdir: str, step=None, backbone: bool = False,
                   require_hierarchy: bool = True,
                   cache: bool = False) -> Collection:
  """The run's images: its training split and, for an image folder, the
  held-out images too (assigned to their nearest prototypes); `cache`
  keeps (and reuses) the embeddings in the workdir."""
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  restored = workdirs.restore(workdir, step)
  state, position, config, _ = restored
  tree = _tree(state)
  if tree is None and require_hierarchy:
    raise ConfigError(
        f"{workdir} step {int(state.step)} has no hierarchy yet: it is built "
        f"from epoch {config.warmup_epochs} on; train longer or pass a later "
        "--step.")
  if config.data.pipeline != "device":
    raise ConfigError(
        f"{workdir} trained on data.pipeline={config.data.pipeline!r}; this "
        "command reads images from the in-memory device path (image "
        "folders, Fashion-MNIST).")
  sources.hide_accelerators_from_tensorflow(config.data)
  dataset = sources.open_dataset(config.data)
  mesh = sharding.make_mesh()
  train = config.data.train_split
  folder = getattr(dataset, "folder", None)
  splits = [train]
  if folder is not None and "test" in dataset.splits and train != "test":
    splits.append("test")
  heads, labels, backbones, paths, held, images = [], [], [], [], [], []
  kept = _cache(workdir, state, "collection", cache)
  for split in splits:
    head, label, query = _cached_embed(kept, restored, dataset, split,
                                       config.embed_batch_size, mesh,
                                       backbone)
    heads.append(head)
    labels.append(label)
    backbones.append(query)
    if folder is not None:
      paths += [folder.index.files[i] for i in folder.index.split_rows(split)]
    else:
      paths += [f"{split}/{i:06d}" for i in range(len(label))]
    held.append(np.full(len(label), split != train))
    images.append(dataset.splits[split].images)
  kept.save()
  head = np.concatenate(heads)
  assignments, similarities, parents = _place(
      head, tree, np.arange(len(labels[0])))
  root = folder.index.root if folder is not None else workdir
  return Collection(
      paths, np.concatenate(labels), tuple(dataset.class_names),
      np.concatenate(held), head, assignments, similarities, parents,
      images[0] if len(images) == 1 else _Stacked(images),
      f"HCSC hierarchy of {root}, checkpoint after epoch {position.epoch}",
      np.concatenate(backbones) if backbone else None,
      config.kmeans.backend, folder.index.root if folder is not None else None)


class _Stacked:
  """Several uint8 image arrays read as one, row by row (thumbnails)."""

  def __init__(self, parts):
    self._parts = parts
    self._ends = np.cumsum([len(p) for p in parts])

  def __len__(self):
    return int(self._ends[-1])

  def __getitem__(self, key):
    if isinstance(key, slice):
      return [self[i] for i in range(*key.indices(len(self)))]
    part = int(np.searchsorted(self._ends, key, side="right"))
    start = 0 if part == 0 else int(self._ends[part - 1])
    return np.asarray(self._parts[part][key - start])


def _stamp(path: str) -> str:
  """What says a file changed under the same name: size and mtime."""
  info = os.stat(path)
  return f"{os.path.abspath(path)}|{info.st_size}|{info.st_mtime_ns}"


def files_collection(workdir: str, paths: list[str], step=None,
                     backbone: bool = False, cache: bool = False
                     ) -> tuple[Collection, list]:
  """(image files placed in the run's hierarchy, every one as held out;
  the files that could not be decoded, with why). With `cache`, files
  embedded before (same name, size and time) are not decoded again, and
  the collection carries no thumbnails (`images` None)."""
  from hcsc_jax.embedding import files as files_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.workdir import restore as workdirs  # pylint: disable=g-import-not-at-top
  restored = workdirs.restore(workdir, step)
  state, position, config, _ = restored
  kept = _cache(workdir, state, "files", cache)
  known = {}
  if kept.get("stamps") is not None and (
      not backbone or kept.get("backbone") is not None):
    known = {str(s): i for i, s in enumerate(kept.get("stamps"))}
  stamps = [_stamp(p) if os.path.exists(p) else "" for p in paths]
  new = [i for i, s in enumerate(stamps) if s not in known]
  skipped, images = [], None
  head_new = query_new = None
  new_rows: list[int] = []
  if new:
    dataset, rows, skipped = files_lib.files_dataset(
        config, [paths[i] for i in new], require_some=not known)
    new_rows = [new[r] for r in rows]
  if new_rows:
    mesh = sharding.make_mesh()
    batch = max(1, config.embed_batch_size // mesh.size) * mesh.size
    head_new, _, query_new = _embed(restored, dataset, files_lib.SPLIT,
                                    batch, mesh, backbone)
    if not cache:
      images = dataset.splits[files_lib.SPLIT].images
  usable = set(new_rows)
  order = [i for i in range(len(paths)) if stamps[i] in known or i in usable]
  position_new = {row: k for k, row in enumerate(new_rows)}

  def gather(old, fresh):
    if fresh is None and old is None:
      return None
    return np.stack([fresh[position_new[i]] if i in position_new
                     else old[known[stamps[i]]] for i in order]).astype(
                         np.float32)
  head = gather(kept.get("head"), head_new)
  query = gather(kept.get("backbone"), query_new) if backbone else None
  if cache and new_rows:
    old = list(kept.get("stamps")) if known else []
    fresh = {"stamps": np.asarray(old + [stamps[i] for i in new_rows])}
    for name, rows in (("head", head_new), ("backbone", query_new)):
      if rows is not None:
        fresh[name] = (np.concatenate([kept.get(name), rows]) if known
                       else rows)
    kept.put(**fresh)
    kept.save()
  assignments, similarities, parents = _place(head, _tree(state), None)
  count = len(order)
  return Collection(
      [paths[i] for i in order], np.full(count, -1), (),
      np.ones(count, bool), head, assignments, similarities, parents,
      images, f"{count} images placed in the hierarchy of {workdir} (epoch "
      f"{position.epoch})", query, config.kmeans.backend), skipped
