"""Input data: TFDS builders, the tf.data and in-memory input paths behind
one `sources.Dataset` interface, and augmentations.

`augment`, `pipeline` and the TFDS builders import TensorFlow; `specs` and
`device_augment` do not, and are all the train step uses, so accelerator
hosts without TensorFlow can run it.
"""
