"""The jitted compute around the model, shared by pre-training, the
evaluations and the tools: the train state and optimiser (`state`,
`optimizer`), the sharded train step (`step`), the one dataset -> features
loop (`features`) and the epoch loop that also drives the classifiers
(`epoch_loop`). No workdir I/O here."""
