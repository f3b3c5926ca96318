"""Pre-training as one trip per epoch (embed, cluster, push, train,
checkpoint): the train state and optimiser, the jitted step, the epoch loop
shared with the classifier protocols, the config checks at start-up, and the
workdir (its layout and how a run resumes from it)."""
