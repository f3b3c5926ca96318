"""Everything a workdir holds and who may touch it: the names in it
(`layout`), the lock of the live run (`lock`), orbax checkpoints with
their manifests (`checkpoints`), and the run records a run or a tool
restores from (`restore`). Lower layers never reach into a workdir except
through here."""
