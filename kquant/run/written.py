"""The files a run writes, checked together before any work.

Every command writes some files besides (or instead of) its images: ``compress``
its outputs, ``--report``, ``--html`` and a shared palette's ``--export``;
``compare`` its ``--sheet``, ``--html`` and ``--save-dir`` files; ``palette`` its
``--swatch`` and ``--export``; ``sweep`` its ``--plot``. :func:`check_files` takes
them all at once, with the run's inputs, and refuses, before anything is read or
written:

- two of them that are the same file (``--report x.csv --html x.csv``, ``-o out.png
  --html out.png``): a :class:`~kquant.errors.UsageError` (exit 2), with or without
  ``--force``, since one would silently replace the other;
- one that is an input of the run: a UsageError too, with or without ``--force``
  (an input is never written over);
- with ``overwrite`` false, one that exists: :class:`~kquant.errors.OutputExistsError`
  (exit 1, as for an image output), unless the caller says it will be kept
  (``keep``: ``--skip-existing`` appends to a report).

Files are the same when their absolute, symlink-resolved paths are (so ``./a.png``,
``a.png`` and a link to it are one file).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kquant.defaults import STDIO
from kquant.errors import OutputExistsError, UsageError

__all__ = ["Written", "check_files"]


@dataclass(frozen=True)
class Written:
    """One file a run will write.

    Attributes
    ----------
    path : Path
    role : str
        What it is, in the words of the command line, for messages: an option
        (``"--html"``), or for an image output ``"the output of a.png"``.
    check_exists : bool
        Refuse it if it exists (without ``overwrite``); False for files whose
        existence is dealt with elsewhere (image outputs, checked by the job itself,
        so ``--skip-existing`` can pass them over).
    replaces : Path or None
        The input an image output may replace in place, with ``overwrite``
        (``--name '{stem}.{ext}' --force``, pngquant's ``--ext .png --force``).
    """

    path: Path
    role: str
    check_exists: bool = True
    replaces: Path | None = None

    @property
    def label(self) -> str:
        """``--html page.html``, or ``out.png (the output of a.png)``."""
        if self.role.startswith("-"):
            return f"{self.role} {self.path}"
        return f"{self.path} ({self.role})"


def _key(path: Path) -> str:
    return os.path.realpath(path)


def check_files(
    written: Iterable[Written],
    inputs: Iterable[Path] = (),
    *,
    overwrite: bool = False,
    make_folders: bool = False,
) -> None:
    """Refuse a run whose files collide with each other or with its inputs, or exist;
    with ``make_folders``, then make the folders they go in (the command line's one
    rule for outputs, reports, pages and pictures: folders are created as needed).

    Parameters
    ----------
    written : iterable of Written
        Every file the run will write; ``-`` (standard output) is left out.
    inputs : iterable of Path
        The run's inputs (``-`` left out).
    overwrite : bool
        ``--force``: existing files may be replaced (never each other, and inputs
        only by their own outputs: :attr:`Written.replaces`).

    Raises
    ------
    UsageError
        Two files are the same, or a file is an input.
    OutputExistsError
        A file exists and ``overwrite`` is false.

    Examples
    --------
    >>> report, page = Written(Path("r.csv"), "--report"), Written(Path("r.csv"), "--html")
    >>> check_files([report, page])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kquant.errors.UsageError: --html r.csv is the same file as --report r.csv; give each ...
    """
    owner: dict[str, str] = {}
    for path in inputs:
        if str(path) != STDIO:
            owner.setdefault(_key(path), f"the input {path}")
    first: dict[str, Written] = {}
    for item in written:
        if str(item.path) == STDIO:
            continue
        key = _key(item.path)
        in_place = overwrite and item.replaces is not None and _key(item.replaces) == key
        if key in owner and key not in first and not in_place:
            how = ("--force replaces it in place" if item.replaces is not None
                   and _key(item.replaces) == key else "write elsewhere")  # fmt: skip
            raise UsageError(f"{item.label} is {owner[key]}: an input is not written over; {how}")
        if key in first:
            raise UsageError(
                f"{item.label} is the same file as {first[key].label}; give each its own name"
            )
        first[key] = item
    for item in first.values():
        if not overwrite and item.check_exists and item.path.exists():
            raise OutputExistsError(
                f"{item.path}: already exists (use --force to replace it)", path=item.path
            )
    for item in first.values() if make_folders else ():
        make_folder(item.path)


def make_folder(path: Path) -> None:
    """Make the folder ``path`` goes in, as needed.

    Raises
    ------
    ImageWriteError
        It cannot be made (a file in the way, no permission).
    """
    from kquant.errors import ImageWriteError

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageWriteError(f"{path}: cannot make its folder {Path(path).parent}: "
                              f"{exc.strerror or exc}") from None  # fmt: skip
