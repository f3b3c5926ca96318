"""What runs around the method, whatever the job: the device mesh, joining a
multi-process run, orbax checkpoints, metrics and progress, SIGTERM, and the
workdir lock."""
