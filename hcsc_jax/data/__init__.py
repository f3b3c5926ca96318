"""Input data: TFDS builders, tf.data pipelines and augmentations.

Imports TensorFlow; the core library (models, objective, train step) does
not depend on this package.
"""
