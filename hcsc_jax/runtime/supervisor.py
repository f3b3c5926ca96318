"""A multi-process command runs under a small supervisor, so that a dead
peer ends every surviving process with one line saying what to do.

When a peer stops sending heartbeats, JAX's coordination client aborts the
process from C++ (exit status 134 with a check-failure stack): nothing in
Python can catch that. So each process of a multi-process run re-executes
its command as a child (its stdout shared, its stderr passed through and
remembered), and when the child dies by a signal the supervisor prints

  error: process 0 of 2 stopped: process 1 stopped sending heartbeats ...
  Last checkpoint: step 8 in <workdir>/checkpoints. Rerun the same command
  on all 2 processes to resume.

and exits 75 (EX_TEMPFAIL: rerunning is the fix). JAX's own message stays
above it in the log. Single-process commands run directly.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

from hcsc_jax.runtime import process_env

ENV_SUPERVISED = "HCSC_SUPERVISED"
EXIT_PEER_LOST = 75
_TAIL_BYTES = 1 << 16


def _kill_with_parent() -> None:
  """In the child: die when the supervisor dies (even by SIGKILL), so that
  killing a process of the run never leaves its work running alone."""
  try:
    import ctypes  # pylint: disable=g-import-not-at-top
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass


def _flag_value(argv: list[str], name: str) -> str | None:
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{name}="):
      return arg.split("=", 1)[1]
    if arg == f"--{name}" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def last_checkpoint(workdir: str | None) -> str:
  """'step N in <dir>' for the newest finished checkpoint, or why none."""
  if not workdir:
    return "no --workdir given"
  directory = os.path.join(os.path.abspath(workdir), "checkpoints")
  steps = []
  if os.path.isdir(directory):
    steps = [int(name) for name in os.listdir(directory) if name.isdigit()]
  if not steps:
    return f"none yet in {directory} (a rerun starts from the beginning)"
  return f"step {max(steps)} in {directory}"


def lost_peer(stderr_tail: str) -> str | None:
  """Which peer JAX says is gone, from its message ('task:1' in the
  coordination service's task names), or None when it names none."""
  text = stderr_tail.lower()
  if not any(word in text for word in ("heartbeat", "unavailable",
                                       "coordination", "barrier", "gloo",
                                       "connection reset", "socket closed")):
    return None
  for pattern in (r"Task (\d+) heartbeat timeout",
                  r"stopped sending heartbeats\):\s*(\d+)",
                  r"task:(\d+)"):
    tasks = re.findall(pattern, stderr_tail)
    if tasks:
      return tasks[-1]
  return "?"


def explanation(returncode: int, stderr_tail: str, argv: list[str],
                env=None) -> str | None:
  """The one line for a child that ended this way, or None when its own
  exit status and message are the right ending (normal exits)."""
  if returncode >= 0 and returncode != 134:
    return None
  index, count = process_env.process_label(env)
  peer = lost_peer(stderr_tail)
  if peer is None:
    how = (f"it was killed by signal {-returncode}" if returncode < 0
           else "it aborted")
    cause = f"{how}; the log above holds JAX's message"
  elif peer == "?" or int(peer) == index:
    cause = ("lost contact with the other processes of the run (see JAX's "
             "message above)")
  else:
    cause = f"process {peer} stopped sending heartbeats (see JAX's message above)"
  return (f"error: process {index} of {count} stopped: {cause}. Last "
          f"checkpoint: {last_checkpoint(_flag_value(argv, 'workdir'))}. "
          f"Rerun the same command on all {count} processes to resume.")


def _module_name() -> str:
  spec = getattr(sys.modules["__main__"], "__spec__", None)
  if spec is None or not spec.name:
    raise RuntimeError("run the command as `python -m hcsc_jax.<name>`.")
  return spec.name


def supervise_if_distributed() -> None:
  """In a process of a multi-process run: runs this same command as a
  child and exits with its status (or EXIT_PEER_LOST and one line when a
  peer's death killed it); returns at once otherwise (and in the child)."""
  if os.environ.get(ENV_SUPERVISED) or not process_env.several_processes():
    return
  command = [sys.executable, "-m", _module_name()] + sys.argv[1:]
  child = subprocess.Popen(command, env=dict(os.environ, **{ENV_SUPERVISED: "1"}),
                           stderr=subprocess.PIPE, preexec_fn=_kill_with_parent)
  # Ctrl-C in a terminal reaches the child too (same process group): it
  # checkpoints. SIGTERM (a scheduler) is passed on.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
  tail = bytearray()

  def pass_through():
    while True:
      chunk = os.read(child.stderr.fileno(), 4096)
      if not chunk:
        return
      os.write(2, chunk)
      tail.extend(chunk)
      del tail[:-_TAIL_BYTES]

  reader = threading.Thread(target=pass_through, daemon=True)
  reader.start()
  returncode = child.wait()
  reader.join(timeout=5)
  line = explanation(returncode, tail.decode(errors="replace"), sys.argv[1:])
  if line is None:
    sys.exit(returncode)
  sys.stdout.flush()
  print(line, file=sys.stderr, flush=True)
  sys.exit(EXIT_PEER_LOST)
