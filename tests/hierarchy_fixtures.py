"""Small random hierarchies and embeddings for the math tests."""


from hcsc_jax.benchmark import synthetic


unit_rows = synthetic.unit_rows


def random_hierarchy(rng, num_clusters=(12, 6, 3), num_examples=40, dim=8,
                     tau=0.2):
  """(the host form for the NumPy reference, the same as device arrays)."""
  host = synthetic.random_host_hierarchy(rng, num_clusters, num_examples, dim,
                                         tau)
  return host, host.to_device()
