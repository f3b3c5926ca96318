"""Pre-training as one trip per epoch (embed, cluster, push, train,
checkpoint): the `Run` that drives it (`train`), the config checks at
start-up (`validation`) and the final kNN report (`final_knn`). The compute
it drives is in `engine/`, the workdir it writes in `workdir/`."""
