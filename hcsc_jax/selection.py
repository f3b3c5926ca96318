"""The stable import path of the selection probabilities (docs/method.md
§9); the code is `hcsc_jax.method.selection`."""

from hcsc_jax.method.selection import instance_selection_probs
from hcsc_jax.method.selection import prototype_selection_probs

__all__ = ["instance_selection_probs", "prototype_selection_probs"]
