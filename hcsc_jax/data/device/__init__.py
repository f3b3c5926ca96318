"""The device input path: a data set's uint8 images held on the devices
(`in_memory`) or memory-mapped on the host (`streamed`, `file_rows`), with
crops (`crop`), colour augmentation (`augment`) and views (`views`) made
inside the jitted step. Imports no TensorFlow."""
