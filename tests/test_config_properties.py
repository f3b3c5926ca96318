"""Property tests over config values: every invalid config is rejected at
startup with a message naming each bad field; every valid small config
trains a step. Hypothesis runs derandomised, so CI is deterministic."""

import hypothesis
import jax
from hypothesis import strategies as st
import numpy as np

from hcsc_jax import models
from hcsc_jax.runtime import sharding
from hcsc_jax.training import validation
from tests.test_step import _active_state_and_step
from tests.trainer_fixtures import smoke_config

DEVICES = 8
EXAMPLES = 64
MASKING = ("zero", "remove")


def _expected_bad_fields(c) -> set[str]:
  """The rules, restated independently of hcsc_jax.validation."""
  bad = set()
  if c["batch_size"] < 1 or c["batch_size"] % DEVICES:
    bad.add("batch_size")
  if c["queue_size"] < 1 or (c["batch_size"] > 0
                             and c["queue_size"] % c["batch_size"]):
    bad.add("queue_size")
  group = c["bn_group_size"]
  if group is not None and (group < 1 or c["batch_size"] % group):
    bad.add("bn_group_size")
  counts = c["num_clusters"]
  if (not counts or min(counts) < 1
      or any(a <= b for a, b in zip(counts, counts[1:]))
      or counts[0] > EXAMPLES):
    bad.add("num_clusters")
  if c["epochs"] < 1:
    bad.add("epochs")
  if c["warmup_epochs"] < 0 or c["warmup_epochs"] >= c["epochs"]:
    bad.add("warmup_epochs")
  if c["embed_dim"] < 1:
    bad.add("embed_dim")
  if c["arch"] not in models.ARCHITECTURES:
    bad.add("arch")
  if c["objective.masking"] not in MASKING:
    bad.add("objective.masking")
  if c["dtype"] not in ("float32", "bfloat16", "float16"):
    bad.add("dtype")
  return bad


FIELDS = {
    "batch_size": st.sampled_from([0, 4, 8, 16, 32]),
    "queue_size": st.sampled_from([0, 16, 32, 40, 64]),
    "bn_group_size": st.sampled_from([None, 0, 3, 4, 8]),
    "num_clusters": st.sampled_from([(8, 4, 2), (6, 3), (4, 8), (8, 8), (),
                                     (100, 5), (4, 0)]),
    "epochs": st.sampled_from([0, 1, 2, 3]),
    "warmup_epochs": st.sampled_from([-1, 0, 1, 2]),
    "embed_dim": st.sampled_from([0, 8, 16]),
    "arch": st.sampled_from(["resnet18", "resnet34", "resnet7"]),
    "objective.masking": st.sampled_from(["zero", "remove", "drop"]),
    "dtype": st.sampled_from(["float32", "bfloat16", "float8"]),
}


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
@hypothesis.given(st.fixed_dictionaries(FIELDS))
def test_every_invalid_config_is_rejected_naming_its_fields(values):
  config = smoke_config(**values)
  problems = validation.config_problems(config, num_examples=EXAMPLES,
                                        device_count=DEVICES)
  bad = _expected_bad_fields(values)
  assert bool(problems) == bool(bad), (values, problems)
  text = "\n".join(problems)
  for field in bad:
    assert f"{field}=" in text or f"{field}[" in text, (field, problems)


VALID = {
    "batch_size": st.sampled_from([8, 16]),
    "bn_group_size": st.sampled_from([None, 8]),
    "num_clusters": st.sampled_from([(8, 4, 2), (6,)]),
    "embed_dim": st.sampled_from([8, 16]),
    "objective.masking": st.sampled_from(list(MASKING)),
}


@hypothesis.settings(max_examples=3, deadline=None, derandomize=True)
@hypothesis.given(st.fixed_dictionaries(VALID))
def test_every_valid_small_config_trains_a_step(values):
  config = smoke_config(queue_size=32, **values)
  validation.validate_config(config, num_examples=EXAMPLES,
                             device_count=DEVICES)
  mesh = sharding.make_mesh()
  state, train_step = _active_state_and_step(config, mesh)
  rng = np.random.default_rng(0)
  size, batch = config.data.image_size, config.batch_size
  views = {name: rng.normal(size=(batch, size, size, 3)).astype(np.float32)
           for name in ("query", "key")}
  views["index"] = rng.integers(0, EXAMPLES, batch).astype(np.int32)
  state, metrics = train_step(state, sharding.put_batch(views, mesh))
  jax.block_until_ready((state, metrics))  # nothing left running on exit
  assert np.isfinite(float(metrics["loss"]))
  assert int(state.step) == 1
