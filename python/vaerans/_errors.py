"""The exceptions vaerans raises: every one is a :class:`vaerans.Error`.

The native module raises these classes, carrying the library's message (which says what to
do). Classes that stand for bad input also derive from the built-in class Python code
already catches for it (``ValueError``, ``OSError``).
"""


class Error(Exception):
    """Any error of vaerans."""


class StreamError(Error, ValueError):
    """A stream is not a vaerans stream, is truncated, corrupt, or of a newer format."""


class InputError(Error, ValueError):
    """An argument is not what vaerans takes: an array's type, shape or layout, a setting."""


class LimitError(Error, ValueError):
    """An input is over a limit: a size, or the memory coding it would take."""


class ModelError(Error):
    """The model cannot be found, opened or run, or a stream needs another model."""


class GpuError(Error):
    """The GPU was asked for and is missing or failed."""


class IoError(Error, OSError):
    """A file could not be read or written."""


__all__ = ["Error", "StreamError", "InputError", "LimitError", "ModelError", "GpuError", "IoError"]
