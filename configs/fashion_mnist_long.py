r"""HCSC on Fashion-MNIST for one GPU: ResNet-18 at width 32, 100 epochs,
the in-memory device path (no TensorFlow needed) and k-means on the
accelerator (no faiss needed).

  python -m hcsc_jax.main --config=configs/fashion_mnist_long.py \
      --workdir=workdirs/fashion_mnist_long

Cost: see BENCHMARKS.md ("long config"); on a 2-core CPU one epoch takes
about 12 minutes of training (+4 for online kNN), so there it is a curve to
watch, not a run to finish.
Variants: `:smoke`.
"""

from hcsc_jax.configs import fashion_mnist
from hcsc_jax.configs import hcsc_r50_imagenet


def get_config(arg=None):
  c = fashion_mnist.get_config()
  c.width = 32                # 256-d backbone features
  c.embed_dim = 128
  c.epochs = 100
  c.warmup_epochs = 5
  c.batch_size = 256
  c.base_lr = 0.06
  c.ema_momentum = 0.996
  c.queue_size = 8192
  c.num_clusters = (500, 200, 50)
  c.kmeans.backend = "jax"    # GPU hosts may lack faiss
  c.embed_batch_size = 2000
  c.eval_every = 5
  c.visualize_every = 25
  if arg == "smoke":
    hcsc_r50_imagenet.smoke(c)
  elif arg:
    raise ValueError(f"unknown config variant {arg!r}; known: 'smoke'.")
  return c
