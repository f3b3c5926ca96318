"""hcsc_jax: Hierarchical Contrastive Selective Coding in JAX/Flax.

The map. Commands (`python -m hcsc_jax.<name>`), the only modules at the
top level besides `cli`, `errors` and `models`:
  main                       pre-train a config into a workdir
  evaluate                   kNN, linear, semi-supervised, clustering
  knn_baselines              kNN of raw pixels and of a random encoder
  study                      every variant x seed, then the table
  export / import_torch      workdir <-> PyTorch checkpoints
  embed                      features of images with a workdir's encoder
  hierarchy                  a run's taxonomy as files and a browsable page
  select                     which images to label first (or next, --labels)
  predict                    label a collection from a few labels, doubts
  export_labels              the labelled collection as class folders
  simulate_labelling         simulated labelling rounds (the label-loop study)
  visualize                  the hierarchy report (figures, HTML)
  write_fashion_mnist_folder Debian's Fashion-MNIST as a folder of PNGs
  benchmark                  speed measurements (a package, benchmark/)
  cli.py, errors.py          what the commands share (and the `hcsc`
                             console script); errors.py holds every
                             error that ends a command with one line
  models.py                  ResNets in torchvision layout, grouped BN

Library packages, lowest layer first; a package imports only from layers
below it (tests/test_layers.py enforces it):
  method/       the method in pure JAX: hierarchy arrays, selection,
                losses, the objective and its variants (docs/method.md)
  runtime/      mesh, distributed start-up, preemption, metrics, output files
  clustering/   hierarchical k-means (faiss on the host, or JAX on the
                accelerators) -> a method.hierarchy.ClusterHierarchy
  data/         data sets and their registry, the tf.data and device paths
  engine/       train state, the jitted step, the feature and epoch loops
  workdir/      layout, lock, checkpoints and restoring a run
  interchange/  PyTorch checkpoints in and out
  embedding/    embedding arrays, image files and a run's whole collection
                with a workdir's encoder
  evals/        kNN, linear / semi-supervised, clustering protocols;
                label budgets (which images to label first)
  labelling/    the user's labels, predictions with doubts, the next
                batch's rules, the exported class folders
  viz/          hierarchy statistics, figures, report and browser
  training/     pre-training: the Run of an epoch trip, config checks
  studies/      seeds studies over variants; the label-loop simulation
  benchmark/    the benchmark parts, a PyTorch yardstick, synthetic data

The core (`method/`, models, clustering with the jax backend, the engine
on the device path) imports without TensorFlow or faiss so that accelerator
hosts without them can run the train step and the benchmarks.

`hcsc_jax.selection` and `hcsc_jax.losses`, the stable import paths of the
public functions (docs/method.md §9), are the modules `method.selection` and
`method.losses` themselves, served under those names by the finder below
(imported on first use, so `import hcsc_jax` stays free of JAX).
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

__version__ = "0.1.0"

_STABLE_PATHS = {"hcsc_jax.selection": "hcsc_jax.method.selection",
                 "hcsc_jax.losses": "hcsc_jax.method.losses"}


class _StablePathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Imports a stable path as the very module it names."""

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    if fullname in _STABLE_PATHS:
      return importlib.util.spec_from_loader(fullname, self)
    return None

  def create_module(self, spec):
    return importlib.import_module(_STABLE_PATHS[spec.name])

  def exec_module(self, module):
    del module  # already executed under its own name


class _CheckoutConfigsFinder(importlib.abc.MetaPathFinder):
  """`hcsc_jax.configs` in a source checkout: the top-level configs/ folder
  (an installed package carries them as hcsc_jax/configs, setup.py)."""

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    if fullname != "hcsc_jax.configs":
      return None
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.isdir(os.path.join(here, "configs")):
      return None  # installed: the real subpackage
    folder = os.path.join(os.path.dirname(here), "configs")
    init = os.path.join(folder, "__init__.py")
    if not os.path.isfile(init):
      return None
    return importlib.util.spec_from_file_location(
        fullname, init, submodule_search_locations=[folder])


for _finder in (_StablePathFinder, _CheckoutConfigsFinder):
  if not any(isinstance(f, _finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _finder())
