"""Exceptions raised by the kquant library.

Every error that a user can cause (a bad file, a bad argument, an output that cannot
be written) is a :class:`KquantError`; its message is one line that names the file
and the problem, so a front end can print ``str(error)`` as it is. Anything else that
escapes the library is a bug.

The command line maps them to exit codes: :class:`UsageError` subclasses (the
arguments are wrong) exit 2, every other :class:`KquantError` (the work failed)
exits 1.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ImageReadError",
    "ImageTooLargeError",
    "ImageWriteError",
    "KquantError",
    "NotEnoughMemoryError",
    "OutputExistsError",
    "UsageError",
]


class KquantError(Exception):
    """Base class of every error kquant reports to a user."""


class UsageError(KquantError, ValueError):
    """The arguments are wrong: a bad value, an output equal to the input, a format
    that cannot hold the result. Exit code 2 on the command line.

    Attributes
    ----------
    params : tuple of str
        The library parameters at fault (``"k"``, ``"target_psnr"``...), if known; a
        front end can name its own options for them (the command line prefixes the
        message with ``-k/--colors:``).
    """

    def __init__(self, message: str, *, params: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.params = params


class ImageReadError(KquantError):
    """The input cannot be read or decoded: missing, empty, truncated, not an image."""


class ImageTooLargeError(ImageReadError):
    """The image has more pixels than the decompression-bomb limit allows.

    Attributes
    ----------
    pixels : int
        Width times height of the image.
    limit : int
        The limit in force.
    """

    def __init__(self, message: str, *, pixels: int, limit: int) -> None:
        super().__init__(message)
        self.pixels = pixels
        self.limit = limit


class NotEnoughMemoryError(KquantError, MemoryError):
    """The image cannot be processed in the memory this machine has left (foreseen
    from its header, or an allocation that failed)."""


class ImageWriteError(KquantError):
    """The output cannot be written: missing or unwritable folder, full disk."""


class OutputExistsError(ImageWriteError):
    """The output file exists and overwriting was not allowed.

    Attributes
    ----------
    path : Path or None
        The existing file.
    """

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path
