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

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "FileWarning",
    "ImageReadError",
    "ImageTooLargeError",
    "ImageWriteError",
    "KquantError",
    "NotEnoughMemoryError",
    "OutputExistsError",
    "UnexpectedError",
    "UsageError",
    "debugging",
    "one_line",
    "per_image",
    "unexpected",
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


class FileWarning(UserWarning):
    """Something odd about an input file that did not stop kquant from reading it
    (what libtiff printed while decoding it, say); like Pillow's own warnings about a
    file, :func:`per_image` turns it into a note of the image's report."""


class UnexpectedError(KquantError):
    """An exception kquant's own checks did not foresee, raised while working on one
    image (a Pillow decoder's ``TypeError``, an encoder's ``RuntimeError``...): the
    image's error, never the run's. The message names the file, the exception's type
    and its text, and asks for a report; ``KQUANT_DEBUG=1`` lets the original
    exception through with its traceback instead (:func:`debugging`).

    Attributes
    ----------
    original : str
        The class name of the exception it stands for.
    """

    def __init__(self, message: str, *, original: str) -> None:
        super().__init__(message)
        self.original = original


#: Environment variable that keeps Python tracebacks of unforeseen exceptions.
DEBUG_VARIABLE = "KQUANT_DEBUG"


def debugging() -> bool:
    """Whether ``KQUANT_DEBUG`` is set to something other than "" or "0"."""
    import os

    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def one_line(text: str) -> str:
    """``text`` on one line: runs of white space (newlines too) as one space."""
    return " ".join(text.split())


def describe(exc: BaseException) -> str:
    """``TypeName: text`` of an exception in one line (at most 200 characters of its
    text; the type alone if it has no text)."""
    text = one_line(str(exc))[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unexpected(subject: object, exc: BaseException) -> UnexpectedError:
    """The :class:`UnexpectedError` standing for ``exc``, raised while working on
    ``subject`` (a path, or a name)."""
    return UnexpectedError(
        f"{subject}: unexpected error ({describe(exc)}); this is a bug in kquant or in a "
        "library it uses: please report it with the file (KQUANT_DEBUG=1 shows where)",
        original=type(exc).__name__,
    )


@contextlib.contextmanager
def per_image(
    subject: object,
    *,
    warnings_too: bool = True,
    passing: tuple[type[BaseException], ...] = (),
) -> Iterator[list[str]]:
    """The boundary of the work on one image.

    An exception that escapes kquant's own checks becomes :func:`unexpected`
    (``KquantError``, ``MemoryError``, ``OSError``, interrupts and the classes in
    ``passing``, a front end's own errors, pass as they are); with
    ``KQUANT_DEBUG=1`` it passes unchanged, with its traceback.

    With ``warnings_too``, warnings about the file (Pillow's, such as "Corrupt EXIF
    data", and :class:`FileWarning`) are caught and given, one line each and without
    repeats, in the yielded list, filled when the block ends: the caller makes them
    notes of the image's report, or warning lines. Other warnings are issued again
    after the block, as they came (kquant's own: the test suite turns them into
    errors).
    """
    import warnings

    heard: list[str] = []
    with contextlib.ExitStack() as stack:
        caught = stack.enter_context(warnings.catch_warnings(record=True)) if warnings_too else []
        if warnings_too:
            warnings.simplefilter("always")
        try:
            yield heard
        except (KquantError, MemoryError, OSError, *passing):  # type: ignore[misc]
            raise
        except Exception as exc:
            if debugging():
                raise
            raise unexpected(subject, exc) from exc
        finally:
            others = []
            for w in caught or ():
                if _about_the_file(w):
                    line = one_line(str(w.message))
                    if line not in heard:
                        heard.append(line)
                else:
                    others.append(w)
    for w in others:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _about_the_file(w: object) -> bool:
    """Whether a caught warning is about the input file: a :class:`FileWarning`, or
    any warning issued by Pillow's own code."""
    import os

    if issubclass(w.category, FileWarning):  # type: ignore[attr-defined]
        return True
    parts = os.path.normpath(w.filename).split(os.sep)  # type: ignore[attr-defined]
    return "PIL" in parts
