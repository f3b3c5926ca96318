"""Input data: TFDS builders, tf.data pipelines and augmentations.

`augment`, `pipeline` and the TFDS builders import TensorFlow; `specs` and
`device_augment` do not, and are all the train step uses, so accelerator
hosts without TensorFlow can run it.
"""
