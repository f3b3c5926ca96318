"""The method as pure JAX, importable without TensorFlow or faiss
(docs/method.md): the hierarchy's host and device forms (`hierarchy`), the
selection probabilities (`selection`), InfoNCE and ProtoNCE (`losses`), the
whole objective of a batch (`objective`), the named variants that switch its
parts (`variants`) and the argument checks of the public math (`checks`).

`hcsc_jax.selection` and `hcsc_jax.losses` are the stable import paths of
the public functions (docs/method.md §9); they name the same objects.
"""
