"""Errors that end a command with one line naming the cause."""


class ConfigError(ValueError):
  """A config that cannot run; the message lists every problem found."""
