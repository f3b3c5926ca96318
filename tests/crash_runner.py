"""Child process for the crash tests: the smoke pre-training on mock data,
dying at a chosen point.

  python -m tests.crash_runner <workdir> <event> <n>

events: `step` (SIGKILL while the n-th train step runs), `embed` (SIGKILL
after the n-th embedding batch is dispatched), `cluster` (SIGKILL after the
n-th k-means level), `checkpoint` (SIGKILL in the n-th checkpoint write,
after the files are written and before orbax's atomic rename), `sigterm`
(a real SIGTERM during the n-th train step), `none`.
"""

import os
import signal
import sys


def _dies_on(n: int, sig: int):
  calls = {"count": 0}

  def hit():
    calls["count"] += 1
    if calls["count"] == n:
      os.kill(os.getpid(), sig)
  return hit


def _install(event: str, n: int) -> None:
  from hcsc_jax import clustering, embedding, train  # pylint: disable=g-import-not-at-top
  from orbax.checkpoint._src.path import atomicity  # pylint: disable=g-import-not-at-top
  sig = signal.SIGTERM if event == "sigterm" else signal.SIGKILL
  hit = _dies_on(n, sig)
  if event in ("step", "sigterm"):
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
    embed_split = embedding.embed_split

    def dying_embed(embed_fn, *args, **kwargs):
      def dying_fn(*a):
        out = embed_fn(*a)
        hit()
        return out
      return embed_split(dying_fn, *args, **kwargs)
    train.embedding.embed_split = dying_embed
  elif event == "cluster":
    kmeans = clustering.kmeans

    def dying_kmeans(*args, **kwargs):
      out = kmeans(*args, **kwargs)
      hit()
      return out
    clustering.kmeans = dying_kmeans
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
  from hcsc_jax import train  # pylint: disable=g-import-not-at-top
  from tests.trainer_fixtures import mock_fashion_mnist, smoke_config  # pylint: disable=g-import-not-at-top
  _install(event, n)
  with mock_fashion_mnist():
    summary = train.train_and_evaluate(smoke_config(), workdir)
  if not summary.get("preempted"):
    print(train.final_line(summary), flush=True)


if __name__ == "__main__":
  main()
