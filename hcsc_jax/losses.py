"""The stable import path of the contrastive losses (docs/method.md §9);
the code is `hcsc_jax.method.losses`."""

from hcsc_jax.method.losses import info_nce
from hcsc_jax.method.losses import proto_nce

__all__ = ["info_nce", "proto_nce"]
