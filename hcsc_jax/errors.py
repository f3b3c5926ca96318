"""Every error of hcsc_jax that ends a command with one line naming the
cause (`cli.report_errors`); the modules that raise them import them from
here, so catching one never imports its module."""


class ConfigError(ValueError):
  """A config that cannot run; the message lists every problem found."""


class InputExhaustedError(RuntimeError):
  """The train input ended before the epoch's last step: examples were
  dropped (undecodable images), so the epoch has fewer full batches."""


class WorkdirError(OSError):
  """The workdir cannot be written (permissions, full disk, not a folder)."""


class WorkdirBusyError(RuntimeError):
  """Another live run holds the workdir."""


class CheckpointWriteError(OSError):
  """A checkpoint could not be written; earlier ones are untouched."""


class CheckpointDamagedError(OSError):
  """No intact checkpoint to restore (or the one asked for is damaged)."""


class TopologyError(RuntimeError):
  """The processes or devices of a run do not fit together."""


class DataPreparationError(OSError):
  """TFDS could not build the data set (offline download, bad files)."""


class NonFiniteLossError(RuntimeError):
  """The loss or a gradient became NaN/inf; nothing after it was saved."""


class OutputError(OSError):
  """An output path that cannot be written (a folder in the way, no
  permission, a full disk)."""


class DiskFullError(OSError):
  """A write failed for want of space (or quota, or a read-only file
  system); the message names the file, the free space and what to do."""
