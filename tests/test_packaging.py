"""`pip install .` gives the whole package (every subpackage, the configs
under hcsc_jax.configs, the shipped ImageNet subset lists) and commands
that work from a fresh virtual environment; the core imports without
TensorFlow or faiss."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module", name="wheel")
def _wheel(tmp_path_factory):
  """The wheel `pip wheel .` builds from a copy of the checkout."""
  tmp = tmp_path_factory.mktemp("wheel")
  source = tmp / "project"
  source.mkdir()
  for name in ("pyproject.toml", "setup.py", "README.md"):
    shutil.copy(os.path.join(ROOT, name), source)
  for package in ("hcsc_jax", "configs"):
    shutil.copytree(os.path.join(ROOT, package), source / package,
                    ignore=shutil.ignore_patterns("__pycache__"))
  out = tmp / "dist"
  subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                  "--no-build-isolation", str(source), "-w", str(out)],
                 check=True, capture_output=True)
  (wheel,) = os.listdir(out)
  return out / wheel


def test_wheel_holds_every_package_the_configs_and_the_subset_lists(wheel):
  with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    metadata = z.read(next(n for n in names if n.endswith("/METADATA"))
                      ).decode()
    entry_points = z.read(next(n for n in names
                               if n.endswith("/entry_points.txt"))).decode()
  for folder, _, files in os.walk(os.path.join(ROOT, "hcsc_jax")):
    if "__init__.py" in files:
      package = os.path.relpath(folder, ROOT)
      assert f"{package}/__init__.py" in names, package
  # The configs install under the package's namespace, not as `configs`.
  for config in ("hcsc_jax/configs/fashion_mnist.py",
                 "hcsc_jax/configs/eval/knn_imagenet.py"):
    assert config in names
  assert not [n for n in names if n.startswith("configs/")]
  for subset in ("1percent.txt.gz", "10percent.txt.gz"):
    assert f"hcsc_jax/data/datasets/imagenet_subsets/{subset}" in names
  assert "hcsc = hcsc_jax.cli:console" in entry_points
  for requirement in ("Requires-Dist: jax", "Requires-Dist: flax",
                      "Requires-Dist: orbax-checkpoint",
                      "Requires-Dist: ml-collections", "Requires-Dist: clu"):
    assert requirement in metadata, requirement
  for extra in ("tf", "faiss", "torch", "docs", "test"):
    assert f"Provides-Extra: {extra}" in metadata, extra


def _run(venv, *args, cwd, **env):
  return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd,
                        capture_output=True, text=True, timeout=900,
                        check=False,
                        env=dict(os.environ, JAX_PLATFORMS="cpu", **env))


def test_pip_install_in_a_fresh_venv_gives_working_commands(
    wheel, tmp_path, idx_source):
  """`pip install <wheel>` into an empty virtual environment (the
  dependencies resolved from the index, the core set: no TensorFlow, faiss
  or torch), then the console script and `python -m`, and a tiny
  evaluation from an installed config, run from a folder with no
  checkout in sight."""
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
  done = _run(venv, "pip", "install", "-q", "--no-compile", str(wheel),
              cwd=tmp_path)
  assert done.returncode == 0, done.stderr[-3000:]
  listed = _run(venv, "pip", "list", cwd=tmp_path).stdout.lower()
  assert "jax" in listed and "tensorflow" not in listed
  assert "faiss" not in listed and "torch" not in listed
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  done = _run(venv, "hcsc", "--help", cwd=elsewhere)
  assert done.returncode == 0 and "predict" in done.stdout, done.stderr
  done = _run(venv, "hcsc", "select", "--help", cwd=elsewhere)
  assert "--labels" in done.stdout, done.stderr  # (absl's --help exits 1)
  done = _run(venv, "python", "-m", "hcsc_jax.knn_baselines",
              "--config=configs/fashion_mnist.py:smoke",
              "--config.data.pipeline=device",
              f"--config.data.manual_dir={idx_source}", cwd=elsewhere)
  assert done.returncode == 0, done.stderr[-3000:]
  assert '"baseline": "raw_pixels"' in done.stdout
  assert '"baseline": "random_encoder"' in done.stdout


def test_the_extras_resolve_from_the_pinned_test_set(wheel, tmp_path):
  """`pip install <wheel>[tf,torch]` with no index: every requirement of
  the extras must already be met by the pinned test set (the CI venv,
  reached through a .pth file), so the extras' ranges admit it."""
  import site  # pylint: disable=g-import-not-at-top
  import sysconfig  # pylint: disable=g-import-not-at-top
  venv = tmp_path / "venv"
  # Without its own pip and setuptools: the CI venv's are the ones seen.
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                 check=True)
  purelib = sysconfig.get_paths(vars={"base": str(venv),
                                      "platbase": str(venv)})["purelib"]
  with open(os.path.join(purelib, "ci_set.pth"), "w") as f:
    f.write("\n".join(site.getsitepackages()) + "\n")
  done = _run(venv, "python", "-m", "pip", "install", "-q", "--no-compile",
              "--no-index", f"{wheel}[tf,torch,faiss]", cwd=tmp_path)
  assert done.returncode == 0, done.stderr[-3000:]
  done = _run(venv, "hcsc", "import_torch", "--help", cwd=tmp_path)
  assert "--checkpoint" in done.stdout, done.stderr


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
