"""Hierarchical k-means (docs/method.md §2): `hierarchical` runs the levels
on the host with faiss or on the accelerators with `jax_backend`, giving a
`method.hierarchy.ClusterHierarchy`.

`hcsc_jax.clustering.hierarchical_kmeans` is the stable path of the public
function (docs/method.md §9).
"""

from hcsc_jax.clustering.hierarchical import hierarchical_kmeans
from hcsc_jax.method.hierarchy import ClusterHierarchy

__all__ = ["hierarchical_kmeans", "ClusterHierarchy"]
