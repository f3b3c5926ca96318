"""Errors that end a command with one line naming the cause."""


class ConfigError(ValueError):
  """A config that cannot run; the message lists every problem found."""


class InputExhaustedError(RuntimeError):
  """The train input ended before the epoch's last step: examples were
  dropped (undecodable images), so the epoch has fewer full batches."""
