"""hcsc_jax: Hierarchical Contrastive Selective Coding in JAX/Flax.

Where things live (docs/method.md describes what each part computes):
  method/        the method in pure JAX: hierarchy arrays, selection,
                 losses, the objective and its variants
  clustering.py  hierarchical k-means (faiss on the host, or kmeans_jax.py
                 on the accelerators) -> a method.hierarchy.ClusterHierarchy
  models.py      ResNets in torchvision layout, grouped BatchNorm
  features.py    the one dataset -> features loop
  data/          data sets, input paths, augmentations
  training/      pre-training: state, step, epoch loop, workdir and resume
  runtime/       mesh, distributed runs, checkpoints, reporting, preemption
  evals/         kNN, linear / semi-supervised, clustering protocols
  interchange/   PyTorch checkpoints in and out
  viz/           hierarchy statistics and figures
  main, evaluate, study, export, import_torch, embed, visualize, benchmark:
                 the commands (`python -m hcsc_jax.<name>`); cli.py and
                 errors.py are what they share.

The core (`method/`, models, clustering with the jax backend) imports
without TensorFlow or faiss so that accelerator hosts without them can run
the train step and the benchmarks.
"""

__version__ = "0.1.0"
