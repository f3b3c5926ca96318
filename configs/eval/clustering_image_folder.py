r"""k-means of the backbone features of a labelled image folder run's
training images into 10 and 50 clusters, scored by NMI and AMI against the
class subfolders (`--config.clustering.num_clusters=...` to change).

  python -m hcsc_jax.evaluate \
      --config=configs/eval/clustering_image_folder.py --workdir=<folder run>
"""

from hcsc_jax.configs.eval import common


def get_config():
  c = common.base("clustering", "image_folder")
  c.clustering.num_clusters = (10, 50)
  return c
