"""Input data behind one `sources.Dataset` interface.

  sources.py   open_dataset(): a config's data block -> its Dataset
  specs.py     what the train step asks of its input (views, augmentation)
  datasets/    the data sets, and the one registry from a data set's name
               to where it comes from (`datasets.SOURCES`)
  tfdata/      the tf.data path: TFDS builders read on the host
  device/      the device path: uint8 arrays on the accelerators, batches
               cut and augmented inside the jitted step

`tfdata/` imports TensorFlow; `specs`, `device/` and the registry do not,
and are all the train step uses, so accelerator hosts without TensorFlow
can run it.
"""
