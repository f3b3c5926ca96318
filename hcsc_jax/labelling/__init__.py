"""From a few human labels to a labelled collection: read the user's labels,
predict the rest with a confidence, list what to doubt, pick the next batch
to label, export the result (the `predict` and `select --labels` commands).
"""
