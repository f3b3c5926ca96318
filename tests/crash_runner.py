"""Child process for the crash tests: the smoke pre-training on mock data,
dying at a chosen point.

  python -m tests.crash_runner <workdir> <event> <n> [<idx source dir>]

With an idx source dir the run takes the in-memory device path on those
files; without, the tf.data path on mock data.

events: `step` (SIGKILL while the n-th train step runs), `embed` (SIGKILL
after the n-th embedding batch is dispatched), `cluster` (SIGKILL after the
n-th k-means level), `checkpoint` (SIGKILL in the n-th checkpoint write,
after the files are written and before orbax's atomic rename), `sigterm`
(a real SIGTERM during the n-th train step), `sigterm_compile` (SIGTERM
0.5 s into compiling the train step), `sigterm_embed` (SIGTERM after the
n-th embedding batch), `sigterm_cluster` (SIGTERM after the n-th k-means
level, from inside the k-means), `sigint`, `sigint_embed`,
`sigint_cluster` (the same with SIGINT, a terminal's Ctrl-C),
`sigint_twice` (two SIGINTs during the n-th train step), `none`.
"""

import os
import signal
import sys


def _dies_on(n: int, sig: int, times: int = 1):
  calls = {"count": 0}

  def hit():
    calls["count"] += 1
    if calls["count"] == n:
      for _ in range(times):
        os.kill(os.getpid(), sig)
  return hit


def _install(event: str, n: int) -> None:
  from hcsc_jax.clustering import hierarchical as clustering  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top
  sig = {"sigterm": signal.SIGTERM, "sigint": signal.SIGINT}.get(
      event.split("_")[0], signal.SIGKILL)
  hit = _dies_on(n, sig, times=2 if event == "sigint_twice" else 1)
  event = event.replace("sigterm_", "").replace("sigint_", "")
  if event in ("step", "sigterm", "sigint", "twice"):
    make = train.step_lib.make_train_step

    def make_dying(*args, **kwargs):
      step = make(*args, **kwargs)

      def dying(state, batch):
        out = step(state, batch)  # dispatched, still running
        hit()
        return out
      return dying
    train.step_lib.make_train_step = make_dying
  elif event == "embed":
    split_features = features_lib.split_features

    def dying_embed(embed_fn, *args, **kwargs):
      def dying_fn(*a):
        out = embed_fn(*a)
        hit()
        return out
      return split_features(dying_fn, *args, **kwargs)
    train.features_lib.split_features = dying_embed
  elif event == "cluster":
    kmeans = clustering.kmeans

    def dying_kmeans(*args, **kwargs):
      out = kmeans(*args, **kwargs)
      hit()
      return out
    clustering.kmeans = dying_kmeans
  elif event == "compile":
    compile_step = train.Run.compile_step

    def compile_then_signal(self, *args, **kwargs):
      import threading  # pylint: disable=g-import-not-at-top
      threading.Timer(0.5, os.kill, (os.getpid(), sig)).start()
      return compile_step(self, *args, **kwargs)
    train.Run.compile_step = compile_then_signal
  elif event == "checkpoint":
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def dying_finalize(self, *args, **kwargs):
      hit()
      return await finalize(self, *args, **kwargs)
    atomicity.AtomicRenameTemporaryPath.finalize = dying_finalize
  elif event != "none":
    raise SystemExit(f"unknown event {event!r}")


def main() -> None:
  workdir, event, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
  source = sys.argv[4] if len(sys.argv) > 4 else None
  import contextlib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.training import train  # pylint: disable=g-import-not-at-top
  from tests import trainer_fixtures  # pylint: disable=g-import-not-at-top
  _install(event, n)
  if source:
    config = trainer_fixtures.device_smoke_config(source)
    data = contextlib.nullcontext()
  else:
    config = trainer_fixtures.smoke_config()
    data = trainer_fixtures.mock_fashion_mnist()
  with data:
    summary = train.train_and_evaluate(config, workdir)
  if summary.get("preempted"):
    from hcsc_jax import cli  # pylint: disable=g-import-not-at-top
    cli.exit_after_preemption(summary["exit_status"])  # as hcsc_jax.main
  print(train.final_line(summary), flush=True)


if __name__ == "__main__":
  main()
