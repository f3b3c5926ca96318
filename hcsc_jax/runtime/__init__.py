"""What runs around the method, whatever the job: the device mesh, joining
(and supervising) a multi-process run, metrics and progress, SIGTERM and
Ctrl-C, output files, XLA:CPU settings. Imports no other package of
hcsc_jax but `errors`."""
