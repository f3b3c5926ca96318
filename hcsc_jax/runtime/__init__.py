"""What runs around the method, whatever the job: the device mesh, joining
(and supervising) a multi-process run, orbax checkpoints, metrics and
progress, SIGTERM and Ctrl-C, output files, and the workdir lock."""
