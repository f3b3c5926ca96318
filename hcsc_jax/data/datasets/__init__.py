"""The data sets, one module each (Fashion-MNIST's idx files and its local
TFDS builder, a user's image folder, ImageNet's offline preparation, the
synthetic ImageNet of the tests and benchmarks), and `registry`: the one
map from a data set's name to where its examples come from on each input
path. A new source is one module here plus one entry in the registry."""
