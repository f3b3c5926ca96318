"""`pip install .` gives the whole package: every subpackage, the configs
the commands load, and the shipped ImageNet subset lists."""

import os
import shutil
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _wheel_names(tmp_path) -> list[str]:
  source = tmp_path / "src"
  source.mkdir()
  shutil.copy(os.path.join(ROOT, "pyproject.toml"), source)
  for package in ("hcsc_jax", "configs"):
    shutil.copytree(os.path.join(ROOT, package), source / package,
                    ignore=shutil.ignore_patterns("__pycache__"))
  out = tmp_path / "wheel"
  subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                  "--no-build-isolation", str(source), "-w", str(out)],
                 check=True, capture_output=True)
  (wheel,) = os.listdir(out)
  with zipfile.ZipFile(out / wheel) as z:
    return z.namelist()


def test_wheel_holds_every_package_the_configs_and_the_subset_lists(
    tmp_path):
  names = set(_wheel_names(tmp_path))
  for folder, _, files in os.walk(os.path.join(ROOT, "hcsc_jax")):
    if "__init__.py" in files:
      package = os.path.relpath(folder, ROOT)
      assert f"{package}/__init__.py" in names, package
  for config in ("configs/fashion_mnist.py", "configs/eval/knn_imagenet.py"):
    assert config in names
  for subset in ("1percent.txt.gz", "10percent.txt.gz"):
    assert f"hcsc_jax/data/datasets/imagenet_subsets/{subset}" in names


def test_method_and_jax_kmeans_work_without_tensorflow_and_faiss():
  child = subprocess.run(
      [sys.executable, "-m", "tests.no_tensorflow_runner", "--no_faiss",
       "tests.core_without_tf_probe"],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert child.returncode == 0, child.stderr[-2000:]
  assert "levels [8, 4]" in child.stdout
  assert ("method modules ['checks', 'hierarchy', 'losses', 'objective', "
          "'selection', 'variants']") in child.stdout
  assert "blocked modules loaded: []" in child.stdout


def test_stable_import_paths_name_the_method_functions():
  from hcsc_jax import losses  # pylint: disable=g-import-not-at-top
  from hcsc_jax import selection  # pylint: disable=g-import-not-at-top
  from hcsc_jax.method import losses as method_losses  # pylint: disable=g-import-not-at-top
  from hcsc_jax.method import selection as method_selection  # pylint: disable=g-import-not-at-top
  assert selection.instance_selection_probs is (
      method_selection.instance_selection_probs)
  assert selection.prototype_selection_probs is (
      method_selection.prototype_selection_probs)
  assert losses.info_nce is method_losses.info_nce
  assert losses.proto_nce is method_losses.proto_nce


def test_the_clustering_stable_path_names_the_faiss_backend_function():
  from hcsc_jax import clustering  # pylint: disable=g-import-not-at-top
  from hcsc_jax.clustering import hierarchical  # pylint: disable=g-import-not-at-top
  from hcsc_jax.method import hierarchy  # pylint: disable=g-import-not-at-top
  assert clustering.hierarchical_kmeans is hierarchical.hierarchical_kmeans
  assert clustering.ClusterHierarchy is hierarchy.ClusterHierarchy
