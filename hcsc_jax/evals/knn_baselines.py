"""Reference points for kNN numbers: raw pixels and a random encoder
(the command is `python -m hcsc_jax.knn_baselines`).

Both use the config's eval transform, splits and kNN settings, so they sit on
the same scale as the `knn_top1` a pre-training run reports.
"""

import jax


def _pixels(dataset, config, split, mesh):
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  flatten = jax.jit(lambda p, s, images: images.reshape(images.shape[0], -1))
  return features_lib.split_features(flatten, None, None, dataset, split,
                               config.embed_batch_size, mesh,
                               f"pixels: {split}")


def baselines(config) -> list[dict]:
  """[raw pixels, random encoder] kNN records on `config`'s data."""
  from hcsc_jax.data import sources  # pylint: disable=g-import-not-at-top
  sources.hide_accelerators_from_tensorflow(config.data)
  from hcsc_jax.engine import features as features_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import state as state_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.engine import step as step_lib  # pylint: disable=g-import-not-at-top
  from hcsc_jax.evals import knn  # pylint: disable=g-import-not-at-top
  mesh = sharding.make_mesh()
  dataset = sources.open_dataset(config.data)
  splits = (config.data.train_split, config.data.eval_split)

  train, test = (_pixels(dataset, config, s, mesh) for s in splits)
  records = [{"baseline": "raw_pixels", **knn.score(train, test, config.knn)}]

  parts, state = state_lib.new_state(config,
                                     dataset.num_examples(splits[0]), mesh)
  embed = step_lib.make_feature_fn(parts.model, mesh, "backbone")
  train, test = (features_lib.split_features(embed, state.params, state.batch_stats,
                                       dataset, s,
                                       config.embed_batch_size, mesh,
                                       f"random encoder: {s}")
                 for s in splits)
  records.append({"baseline": "random_encoder", "seed": config.seed,
                  **knn.score(train, test, config.knn)})
  return records

