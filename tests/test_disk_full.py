"""A full disk: the trainer and an output command end with one line naming
the file, the free space and the remedy; a rerun after moving the workdir
ends with the identical final line and bitwise the same weights; torn records are repaired on resume
and every reader accepts the file. The small disk is a tmpfs the test
mounts (skipped where the machine does not allow mounting)."""

import contextlib
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from hcsc_jax.runtime import records
from hcsc_jax.runtime import reporting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def small_disk(path, size: str):
  """A tmpfs of `size` at `path`, unmounted afterwards; the test is skipped
  where mounting is not allowed (not root, or no CAP_SYS_ADMIN)."""
  os.makedirs(path, exist_ok=True)
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                            "tmpfs", str(path)], capture_output=True,
                           text=True, check=False)
  if mounted.returncode != 0:
    pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
  try:
    yield path
  finally:
    subprocess.run(["umount", "-l", str(path)], check=False)


def _tmpfs_bytes(path) -> int:
  """What the files under `path` occupy on a tmpfs: whole 4 KiB pages."""
  paths = ([path] if os.path.isfile(path) else
           [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs])
  return sum(-(-os.path.getsize(p) // 4096) * 4096 for p in paths)


def _room_for_one_and_a_half_checkpoints(reference_workdir) -> str:
  """A tmpfs size (in KiB) that holds the smoke run's logs and its first
  checkpoint but runs out half-way through the second, measured from the
  uninterrupted run (checkpoint sizes vary with orbax's versions and
  machines, so a fixed size fills on one and not on another)."""
  checkpoint = _tmpfs_bytes(os.path.join(reference_workdir, "checkpoints", "4"))
  logs = sum(_tmpfs_bytes(os.path.join(reference_workdir, name))
             for name in os.listdir(reference_workdir)
             if name.endswith((".json", ".jsonl")) or ".tfevents." in name)
  return f"{(logs + checkpoint * 3 // 2) // 1024}k"


def _command(*args):
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=900,
                        env=dict(os.environ), check=False)


def _error_lines(stderr):
  return [l for l in stderr.splitlines() if l.startswith("error:")]


def test_a_torn_metrics_file_is_repaired_on_resume_and_read_by_every_reader(
    tmp_path):
  path = tmp_path / "metrics.jsonl"
  whole = [{"step": s, "loss": 1.0 / s} for s in range(1, 6)]
  for record in whole:
    records.append(str(path), record)
  text = path.read_bytes()
  path.write_bytes(text + b'{"step": 6, "lo')      # killed mid-record
  warnings = []
  assert records.repair(str(path), warnings.append) == len(b'{"step": 6, "lo')
  assert path.read_bytes() == text
  assert "cut the last 15 bytes" in warnings[0] and str(path) in warnings[0]
  assert records.repair(str(path), warnings.append) == 0  # whole: untouched
  # A torn line in the middle (appended to before a repair existed):
  # skipped, named by file and line, the rest read.
  lines = text.split(b"\n")
  path.write_bytes(lines[0] + b"\n" + lines[1][:10] + lines[2] + b"\n"
                   + b"\n".join(lines[3:]))
  skipped = []
  got = records.read(str(path), skipped.append)
  assert got == [whole[0], whole[3], whole[4]]
  assert len(skipped) == 1 and "line 2 is not a whole record" in skipped[0]
  assert reporting.read_metrics(str(tmp_path))[-1] == whole[-1]
  # The metrics writer repairs its file when it opens it (a resume).
  path.write_bytes(text + b'{"step": 6')
  reporting.MetricsWriter(str(tmp_path)).flush()
  assert path.read_bytes() == text


def test_a_failed_append_leaves_no_part_of_the_record(tmp_path):
  path = tmp_path / "disk" / "metrics.jsonl"
  with small_disk(path.parent, "64k"):
    records.append(str(path), {"step": 1})
    ballast = path.parent / "ballast"
    with open(ballast, "wb") as f:
      with contextlib.suppress(OSError):
        f.write(b"\0" * (1 << 20))
    from hcsc_jax import errors  # pylint: disable=g-import-not-at-top
    with pytest.raises(errors.DiskFullError, match=r"could not write .*"
                       r"metrics.jsonl: its disk is full \(.* free there; "
                       r"this write needed about .*\)"):
      records.append(str(path), {"step": 2, "x": "y" * 5000})
    assert records.read(str(path)) == [{"step": 1}]


def test_a_full_disk_stops_the_trainer_with_one_line_and_the_moved_workdir_resumes(
    idx_source, device_reference_run, tmp_path):
  """The device smoke run on a disk that holds its first checkpoint but
  not the second: one line naming the file, the free space and how to
  resume; the workdir copied to a roomy disk finishes with exactly the
  line an uninterrupted run ends with."""
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from tests.trainer_fixtures import device_smoke_config  # pylint: disable=g-import-not-at-top
  reference, summary, uninterrupted = device_reference_run
  disk = tmp_path / "disk"
  args = ["hcsc_jax.main", "--config=configs/fashion_mnist.py:smoke",
          "--config.data.pipeline=device",
          f"--config.data.manual_dir={idx_source}"]
  with small_disk(disk, _room_for_one_and_a_half_checkpoints(reference)):
    done = _command(*args, f"--workdir={disk / 'run'}")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    (line,) = _error_lines(done.stderr)
    assert str(disk / "run") in line
    assert "free there" in line and "rerun the same command" in line
    assert "--workdir=<its new place>" in line
    assert "checkpoint step 8" in line and "resume from step 4" in line
    moved = tmp_path / "roomy" / "run"
    shutil.copytree(disk / "run", moved)
  assert "only" in done.stderr and "free on the disk of" in done.stderr
  # The rerun (in-process: the same code as the command, compiled once).
  resumed = train.train_and_evaluate(device_smoke_config(idx_source),
                                     str(moved))
  assert (train.final_line(resumed).rsplit(" wall_s=", 1)[0]
          == train.final_line(summary).rsplit(" wall_s=", 1)[0])
  finished = train.Run(device_smoke_config(idx_source), str(moved))
  for got, want in zip(jax.tree.leaves(finished.state.params),
                       jax.tree.leaves(uninterrupted.state.params)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  for record in reporting.read_metrics(str(moved)):
    assert "step" in record
  with open(moved / "metrics.jsonl", "rb") as f:
    assert f.read().endswith(b"\n")


def test_a_full_disk_ends_an_output_command_with_one_line_and_no_file(
    device_reference_run, tmp_path):
  workdir, _, _ = device_reference_run
  disk = tmp_path / "disk"
  with small_disk(disk, "256k"):
    with open(disk / "ballast", "wb") as f:
      with contextlib.suppress(OSError):
        f.write(b"\0" * (250 << 10))
    output = disk / "backbone.safetensors"
    done = _command("hcsc_jax.export", f"--workdir={workdir}",
                    "--format=safetensors", f"--output={output}")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    (line,) = _error_lines(done.stderr)
    assert "its disk is full" in line and "free there" in line
    assert "rerun the same command" in line
    assert str(disk) in line
    assert sorted(os.listdir(disk)) == ["ballast"]  # nothing half-written
