"""Where a run's examples come from: one `Dataset` interface over the two
input paths, picked by `data.pipeline`.

- "tfdata": a TFDS builder read by tf.data on the host (ImageNet; any TFDS
  data set). Needs TensorFlow, imported only here, only then.
- "device": the whole data set as uint8 arrays on the devices, batches made
  inside the jitted step (small data sets such as Fashion-MNIST). Needs no
  TensorFlow.

A `Dataset` answers:
  name, has_images, has_labels, feature_names, num_classes
  num_examples(split) -> int
  labels(split) -> [N] int array in dataset-index order
  eval_batches(split, global_batch, mesh) -> (count, iterator of dicts of
      global device arrays 'image', 'label', 'index', 'mask')
  pretrain_input(specs.PretrainInputSpec, mesh) / classifier_input(...) -> an input with
      `num_examples`, `steps_per_epoch`, `step_inputs(epoch, start_step,
      steps)` (what each train step receives) and `batch` (None when the
      step receives finished batches; else the function the step traces to
      make its batch from what it receives).
"""

from __future__ import annotations

from hcsc_jax.errors import ConfigError

PIPELINES = ("tfdata", "device")


def open_dataset(data_config):
  """The `Dataset` of a config's `data` block."""
  pipeline = data_config.pipeline
  if pipeline == "device":
    from hcsc_jax.data.device import in_memory  # pylint: disable=g-import-not-at-top
    return in_memory.InMemoryDataset(data_config)
  if pipeline == "tfdata":
    from hcsc_jax.data.tfdata import pipeline as tf_pipeline  # pylint: disable=g-import-not-at-top
    return tf_pipeline.TFDSDataset(data_config)
  raise ConfigError(f"data.pipeline={pipeline!r}; choose one of "
                    f"{list(PIPELINES)}.")


def hide_accelerators_from_tensorflow(data_config) -> None:
  """TF only feeds data: leave every GPU/TPU to JAX (tf.data path only;
  the device path never imports TensorFlow)."""
  if data_config.pipeline == "tfdata":
    from hcsc_jax.data.tfdata import pipeline as tf_pipeline  # pylint: disable=g-import-not-at-top
    tf_pipeline.hide_accelerators_from_tf()
