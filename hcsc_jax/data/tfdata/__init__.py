"""The tf.data input path: TFDS builders decoded and augmented on the host
(`pipeline`, `decode`, `augment`). Imports TensorFlow."""
