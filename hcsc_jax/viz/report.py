"""Figures of a checkpoint's hierarchy (paper Figs. 3 and 4 and more), as
PNG files plus one self-contained report.html, or as TensorBoard images
from the trainer.

Everything is computed on a sample of the training split (the first
`sample` examples): the key encoder embeds them in the space the hierarchy
was clustered in, and the images shown are those examples.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import os

import numpy as np

from hcsc_jax.errors import ConfigError
from hcsc_jax.engine import features as features_lib
from hcsc_jax.method import selection
from hcsc_jax.runtime import output_files
from hcsc_jax.engine import step as step_lib
from hcsc_jax.viz import figures
from hcsc_jax.viz import stats


@dataclasses.dataclass(frozen=True)
class Options:
  sample: int = 2000         # training examples embedded and shown
  chains: int = 4            # top-level prototypes followed down
  per_prototype: int = 8     # nearest images per prototype on a chain
  queries: int = 4           # queries of the selection panel
  per_side: int = 5          # eliminated / kept negatives per query
  map_points: int = 1000     # points of the t-SNE map


@dataclasses.dataclass(frozen=True)
class RunFacts:
  """What the figures need of the pre-training run, read once from its
  config (`of`)."""
  train_split: str
  mean: tuple[float, ...]
  std: tuple[float, ...]
  batch_size: int        # the run's embedding batch
  warmup_epochs: int

  @classmethod
  def of(cls, config) -> RunFacts:
    return cls(train_split=config.data.train_split,
               mean=tuple(config.data.mean), std=tuple(config.data.std),
               batch_size=config.embed_batch_size,
               warmup_epochs=config.warmup_epochs)


@dataclasses.dataclass
class Sample:
  images: np.ndarray      # [n, H, W, 3] in [0, 1] for display
  features: np.ndarray    # [n, d] L2-normalised key-encoder embeddings
  labels: np.ndarray      # [n], -1 where unlabelled
  indices: np.ndarray     # [n] dataset indices


def require_hierarchy(state, run: RunFacts, where: str) -> None:
  if not bool(np.asarray(state.hierarchy_active)):
    warmup = run.warmup_epochs
    raise ConfigError(
        f"{where} has no clustering yet: the hierarchy is built from epoch "
        f"{warmup} on (warmup_epochs={warmup}), so the first checkpoint "
        f"with one is written after epoch {warmup} (--epoch={warmup + 1}).")


def load_sample(state, run: RunFacts, model, dataset, mesh, count: int
                ) -> Sample:
  if not dataset.has_images:
    raise ConfigError(
        f"data set {dataset.name} has no 'image' feature (features: "
        f"{list(dataset.feature_names)}); there is nothing to show.")
  embed = step_lib.make_feature_fn(model, mesh, "head")
  mean, std = np.asarray(run.mean), np.asarray(run.std)
  needed = -(-count // run.batch_size)  # same on every process
  parts = list(features_lib.map_split(
      lambda images: embed(state.key_params, state.key_batch_stats, images),
      dataset, run.train_split, run.batch_size, mesh,
      max_batches=needed, carry=("image", "label", "index")))
  joined = {k: np.concatenate([p[k] for p in parts])[:count]
            for k in parts[0]}
  return Sample(np.clip(joined["image"] * std + mean, 0, 1),
                joined["outputs"], joined["label"], joined["index"])


def _levels(state):
  h = state.hierarchy.to_host()
  return h.centroids, h.temperatures, h.assignments, h.parents


def prototype_chains(state, sample: Sample, options: Options,
                     class_names: tuple[str, ...] = ()) -> list[bytes]:
  """One figure per chain: rows top -> bottom level, each row the sample
  images nearest to that prototype, labelled with level and cluster (and
  each image's class when known)."""
  centroids, _, assignments, parents = _levels(state)
  top = len(centroids) - 1
  members = [a[sample.indices] for a in assignments]
  popular = np.argsort(-np.bincount(members[top],
                                    minlength=centroids[top].shape[0]),
                       kind="stable")[:options.chains]
  out = []
  for prototype in popular:
    chain = [(top, int(prototype))]
    for level in range(top - 1, -1, -1):
      children = np.flatnonzero(parents[level] == chain[-1][1])
      if children.size == 0:
        break
      counts = np.bincount(members[level], minlength=centroids[level].shape[0])
      chain.append((level, int(children[np.argmax(counts[children])])))
    rows, row_labels, image_labels = [], [], []
    for level, index in chain:
      nearest = np.argsort(-(sample.features @ centroids[level][index]),
                           kind="stable")[:options.per_prototype]
      rows.append(sample.images[nearest])
      size = int(np.sum(assignments[level] == index))
      row_labels.append(f"level {level}\ncluster {index}\n({size} images)")
      image_labels.append([class_names[int(y)] if class_names and y >= 0
                           else "" for y in sample.labels[nearest]])
    out.append(figures.chain(rows, row_labels,
                             image_labels if class_names else None))
  return out


def selection_at_work(state, sample: Sample, options: Options) -> bytes:
  """For sample queries: the other sample embeddings as negatives, those
  instance selection (level 0) most likely drops next to those it keeps."""
  centroids, temperatures, assignments, _ = _levels(state)
  own = assignments[0][sample.indices]
  queries = np.arange(min(options.queries, len(sample.indices)))
  probs = np.array(selection.instance_selection_probs(
      sample.features, centroids[0], temperatures[0], own[queries]))
  probs[queries, queries] = np.nan  # a query is not its own negative
  dropped, kept = [], []
  for row in probs:
    order = np.argsort(np.where(np.isnan(row), np.inf, row), kind="stable")
    order = order[:np.sum(~np.isnan(row))]
    dropped.append(order[:options.per_side])
    kept.append(order[::-1][:options.per_side])
  dropped, kept = np.asarray(dropped), np.asarray(kept)
  take = lambda idx: np.take_along_axis(probs, idx, axis=1)
  return figures.selection_panel(sample.images[queries],
                                 sample.images[dropped], take(dropped),
                                 sample.images[kept], take(kept))


def embedding_map(state, sample: Sample, options: Options) -> bytes:
  from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
  _, _, assignments, _ = _levels(state)
  n = min(options.map_points, len(sample.indices))
  points = TSNE(n_components=2, init="pca", random_state=0,
                perplexity=float(min(30, max(2, n // 4)))).fit_transform(
                    sample.features[:n])
  return figures.embedding_map(points, assignments[-1][sample.indices[:n]],
                               sample.labels[:n])


def all_figures(state, run: RunFacts, model, dataset, mesh, workdir: str,
                options: Options) -> dict[str, bytes]:
  """{file name: PNG bytes} of every figure."""
  require_hierarchy(state, run, workdir)
  sample = load_sample(state, run, model, dataset, mesh, options.sample)
  class_names = tuple(getattr(dataset, "class_names", ()) or ())
  out = {f"chain_{i}.png": image for i, image in
         enumerate(prototype_chains(state, sample, options, class_names))}
  out["selection.png"] = selection_at_work(state, sample, options)
  out["embedding_map.png"] = embedding_map(state, sample, options)
  records = stats.load(workdir)
  if records:
    out["hierarchy_over_epochs.png"] = figures.hierarchy_over_epochs(records)
  return out


# (heading, how to read it) per figure kind.
CAPTIONS = {
    "chain": ("Prototype chain {n}: one top-level cluster, followed down",
              "Each row is one prototype, from the top level (first row) "
              "down to its most populated child at each finer level; the "
              "images are the sample images nearest to that prototype, "
              "nearest first, with their class under them when the data "
              "set has labels. A good hierarchy shows rows that narrow "
              "down: broad at the top, one kind of image at the bottom "
              "(the paper's Fig. 3)."),
    "selection": ("Instance selection at work",
                  "For a few query images (left), the negatives instance "
                  "selection most probably drops, because they likely share "
                  "the query's cluster, next to negatives it keeps (the "
                  "paper's Fig. 4). Dropped ones should look like the query."),
    "embedding_map": ("Where the images lie: a map of the embeddings",
                      "A t-SNE of the sample's head embeddings, coloured by "
                      "top-level cluster (left) and by class (right, when "
                      "labelled). Clusters that match colours across the two "
                      "panels agree with the labels."),
    "hierarchy_over_epochs": ("How the hierarchy changed over training",
                              "Per clustering epoch: cluster sizes, "
                              "temperatures, the share of negatives "
                              "selection keeps, and purity and NMI per level "
                              "against the labels when known."),
}


def _caption(name: str) -> tuple[str, str]:
  stem = name.split(".")[0]
  kind = stem.rstrip("0123456789_")
  heading, guide = CAPTIONS.get(kind, (stem, ""))
  number = stem[len(kind):].lstrip("_")
  return heading.format(n=int(number) + 1 if number else ""), guide


_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;"
          "color:#222;line-height:1.4} h1{font-size:1.5em} h2{font-size:1.2em;"
          "margin-top:2em;border-bottom:1px solid #ddd} img{max-width:100%}"
          " .guide{color:#444}")


def write(images: dict[str, bytes], output: str, title: str) -> str:
  """PNG files and report.html (images inlined as data URIs), each renamed
  into place when complete; report.html last."""
  output = output_files.prepare_folder(output)
  browser = os.path.exists(os.path.join(output, "hierarchy", "index.html"))
  parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}"
           f"</title><style>{_STYLE}</style></head><body>"
           f"<h1>{html.escape(title)}</h1><p class='guide'>Figures of the "
           "hierarchy of prototypes the run built, from a sample of its "
           "training images. To browse every image of the hierarchy, run "
           "<code>python -m hcsc_jax.hierarchy --workdir=&lt;dir&gt; "
           "--output=&lt;dir&gt;</code> and open its index.html"
           + (" (<a href='hierarchy/index.html'>here</a>)" if browser else "")
           + ".</p>"]
  for name, data in images.items():
    with output_files.atomic_path(os.path.join(output, name)) as tmp:
      with open(tmp, "wb") as f:
        f.write(data)
    heading, guide = _caption(name)
    encoded = base64.b64encode(data).decode("ascii")
    parts.append(f"<h2>{html.escape(heading)}</h2><p class='guide'>"
                 f"{html.escape(guide)} <small>({html.escape(name)})</small>"
                 f"</p><img alt='{html.escape(heading)}' "
                 f"src='data:image/png;base64,{encoded}'/>")
  parts.append("</body></html>")
  path = os.path.join(output, "report.html")
  with output_files.atomic_path(path) as tmp:
    with open(tmp, "w") as f:
      f.write("\n".join(parts))
  return path


def decode(data: bytes) -> np.ndarray:
  """PNG bytes -> [1, H, W, 3] float array for TensorBoard."""
  import matplotlib.image  # pylint: disable=g-import-not-at-top
  image = matplotlib.image.imread(io.BytesIO(data), format="png")
  return image[None, ..., :3]
