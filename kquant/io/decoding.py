"""Opening and decoding files with Pillow, quietly and with one-line errors.

:func:`reading` is the context every image is opened and decoded in (stills,
animation frames, thumbnails, headers): Pillow's exceptions become
:class:`~kquant.errors.ImageReadError` messages naming the file; what Pillow logs
and what libtiff prints on the process's stderr meanwhile is captured, into the
message or as :class:`~kquant.errors.FileWarning`s; Pillow's own decompression-bomb
check is off, since kquant checks sizes itself (:func:`kquant.io.images.check_size`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from kquant.errors import (
    FileWarning,
    ImageReadError,
    KquantError,
    NotEnoughMemoryError,
    debugging,
    describe,
    one_line,
)

__all__ = ["reading"]


@contextlib.contextmanager
def _pillow_limit_off():
    """Turn off Pillow's own decompression-bomb check while opening: the caller checks
    the size against its own limit right after ``Image.open``, which reads only the
    header, and before anything is decoded."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@contextlib.contextmanager
def reading(path: Path, source: Path | IO[bytes] | None = None):
    """Pillow's errors while opening and decoding ``path`` as one-line
    :class:`ImageReadError` messages naming it; Pillow's own decompression-bomb
    check off (the caller checks with :func:`check_size`).

    Every exception out of Pillow's parsers and decoders is the file's problem, not
    the run's: the known kinds get their own words, any other (a ``TypeError`` or
    ``NotImplementedError`` from a plugin, seen on Pillow's own test files) is "cannot
    decode" with its type and text. What Pillow logs meanwhile, and what libtiff
    prints on the process's stderr while a TIFF ``source`` is read, is captured
    (:func:`_pillow_log_captured`, :func:`_c_stderr_captured`): on failure it is
    added to the message, otherwise each line is a :class:`FileWarning`, which
    :func:`kquant.errors.per_image` turns into a note of the image's report.
    """
    chatter: list[str] = []
    try:
        with (
            _pillow_limit_off(),
            _pillow_log_captured(chatter),
            _c_stderr_captured(source, chatter),
        ):
            yield
    except KquantError as exc:  # kquant's own checks, with what the decoder said
        if chatter and isinstance(exc, ImageReadError):
            raise ImageReadError(_with_chatter(str(exc), chatter)) from None
        raise
    except UnidentifiedImageError:
        raise ImageReadError(
            _with_chatter(f"{path}: not an image file Pillow can read", chatter)
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: {exc}") from None
    except PermissionError:
        raise ImageReadError(f"{path}: cannot read: permission denied") from None
    except MemoryError:
        raise NotEnoughMemoryError(f"{path}: not enough memory to decode it") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        # Pillow's parsers raise IndexError or struct.error on some cut or malformed
        # files (a GIF cut inside a frame's blocks)
        message = f"{path}: truncated or corrupt image data ({one_line(str(exc))})"
        raise ImageReadError(_with_chatter(message, chatter)) from None
    except Exception as exc:
        if debugging():  # KQUANT_DEBUG=1: where Pillow failed
            raise
        message = f"{path}: cannot decode it ({describe(exc)})"
        raise ImageReadError(_with_chatter(message, chatter)) from None
    for line in chatter:
        warnings.warn(line, FileWarning, stacklevel=3)


def _with_chatter(message: str, chatter: list[str]) -> str:
    """``message`` with what the decoder said, on the same line."""
    return f"{message} ({'; '.join(chatter)})" if chatter else message


class _PillowLog(logging.Handler):
    """Pillow's log records (its TIFF plugin logs "More samples per pixel than can be
    decoded" as an error before raising) into the list of the file being read, never
    onto stderr: with a handler on the ``PIL`` logger, logging's last-resort printer
    stays silent. Records still propagate to handlers an application configured."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.lines is not None:
            line = one_line(record.getMessage())
            if line not in self.lines:
                self.lines.append(line)


_PILLOW_LOG = _PillowLog()


@contextlib.contextmanager
def _pillow_log_captured(lines: list[str]):
    """Pillow's warnings and errors logged meanwhile, into ``lines``."""
    logger = logging.getLogger("PIL")
    if _PILLOW_LOG not in logger.handlers:
        logger.addHandler(_PILLOW_LOG)
    saved, _PILLOW_LOG.lines = _PILLOW_LOG.lines, lines
    try:
        yield
    finally:
        _PILLOW_LOG.lines = saved


#: The first bytes of TIFF files (classic and BigTIFF, both byte orders).
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def _is_tiff(source: Path | IO[bytes] | None) -> bool:
    try:
        if isinstance(source, Path):
            with open(source, "rb") as fh:
                head = fh.read(4)
        elif source is not None and hasattr(source, "getbuffer"):
            head = bytes(source.getbuffer()[:4])
        else:
            return False
    except OSError:
        return False
    return head in _TIFF_MAGIC


@contextlib.contextmanager
def _c_stderr_captured(source: Path | IO[bytes] | None, lines: list[str]):
    """While a TIFF is read, file descriptor 2 goes to a temporary file, whose lines
    are added to ``lines``: libtiff (Pillow's TIFF decoder) prints its warnings and
    errors there itself, beside kquant's one-line messages. Only TIFFs, and only in
    the main thread (the descriptor is the process's); a progress bar redrawn
    meanwhile (text before a carriage return) is dropped."""
    if not _is_tiff(source) or threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    with tempfile.TemporaryFile() as sink:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(1 << 16).decode("utf-8", "replace")
            for raw in text.split("\n"):  # a bar's redraws end with its last "\r"
                line = raw.rsplit("\r", 1)[-1].strip().removeprefix("tempfile.tif: ")
                if line and line not in lines:
                    lines.append(line)
