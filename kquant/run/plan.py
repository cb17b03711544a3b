"""A compress run over many inputs, settled before any image is read: the options
that go together, the files the run writes checked as one set, where the outputs
go, and the palette a shared run maps every image onto.

:mod:`kquant.cli.compress` parses the command line and calls these; errors are
library errors (:mod:`kquant.errors`): misuse is a ``UsageError`` naming the
settings it concerns, a run that cannot go on a ``KquantError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kquant.defaults import STDIO
from kquant.errors import KquantError, NotEnoughMemoryError, UsageError, per_image
from kquant.settings import CompressSettings

__all__ = [
    "check_names_chosen_later",
    "check_options",
    "check_run_files",
    "files_only",
    "fit_shared",
    "outputs_folder",
    "refuse_counts_as_inputs",
    "refuse_existing_outputs",
    "shared_palette_file",
]


def check_options(
    settings: CompressSettings, *, palette: bool, shared_palette: bool, export: Path | None
) -> None:
    """Refuse settings of a run that do not go together: a given (``palette``) and a
    shared palette, a palette file to export without a shared palette, a shared
    palette with a quality target. The messages name the settings (``params``), the
    command line adds its flags."""
    if shared_palette and palette:
        raise UsageError("`palette` maps onto a given palette; `shared_palette` fits one: "
                         "give one of them", params=("palette", "shared_palette"))  # fmt: skip
    if export is not None and not shared_palette:
        raise UsageError("`export` writes the palette of `shared_palette`; add it",
                         params=("export", "shared_palette"))  # fmt: skip
    if shared_palette and settings.has_target:
        raise UsageError("a shared palette fixes the colors: it does not go with a quality "
                         "target")  # fmt: skip


def files_only(jobs: list, flag: str) -> None:
    """Refuse ``-`` (standard input or output) for an option that needs files."""
    if any(STDIO in (str(job.input), str(job.output)) for job in jobs):
        raise UsageError(f"{flag} reads and writes files: not - (standard input/output)")


def shared_palette_file(jobs: list, k: int) -> Path:
    """Where ``--shared-palette`` writes its palette without ``--export``:
    ``palette-k<K>.gpl`` in the outputs' common folder."""
    folder = Path(os.path.commonpath([str(job.output.parent.absolute()) for job in jobs]))
    return folder / f"palette-k{k}.gpl"


def check_run_files(
    jobs: list,
    *,
    report: Path | None,
    html: Path | None,
    export: Path | None,
    k: int,
    overwrite: bool,
    skip_existing: bool,
) -> None:
    """Every file the run writes, planned together before any work
    (:func:`kquant.run.written.check_files`): outputs, report, page and palette file are
    all different files and none is an input (exit 2, with or without --force); the
    page or palette file exists: exit 1 without --force. The report's
    existence is checked by its writer (--skip-existing appends to it); an existing
    palette file is kept with --skip-existing."""
    from kquant.run.written import Written, check_files

    files = [Written(job.output, f"the output of {job.input}", check_exists=False,
                     replaces=job.input) for job in jobs if job.name is None]  # fmt: skip
    others = (("--report", report, False), ("--html", html, True),
              ("--export", export, not skip_existing))  # fmt: skip
    extra = [Written(path, flag, check) for flag, path, check in others if path is not None]
    check_files(files + extra, [job.input for job in jobs], overwrite=overwrite)
    check_names_chosen_later(jobs, extra, k)


def outputs_folder(jobs: list) -> str:
    """Where a run's outputs go, for its end line: ``in FOLDER/`` when they share one
    (below it for a tree), else ``beside their inputs``."""
    if all(job.output.parent == job.input.parent for job in jobs):
        return "beside their inputs"
    common = os.path.commonpath([str(job.output.parent) for job in jobs])
    return f"in {common}{os.sep}"


def refuse_existing_outputs(jobs: list) -> None:
    """A batch run again without --skip-existing or --force: one line before any work,
    with both ways on (was a line a file, then "N failed")."""
    existing = [job.output for job in jobs if job.name is None and job.output.exists()]
    if existing:
        some = f"{existing[0]}" + (f" and {len(existing) - 1} more" if len(existing) > 1 else "")
        raise KquantError(
            f"{len(existing)} of {len(jobs)} outputs exist ({some}): --skip-existing to "
            "resume, --force to redo"
        )


def check_names_chosen_later(jobs: list, extra: list, k: int) -> None:
    """An output whose name depends on the k a quality target finds (``{k}`` in
    ``--name``) may be any of its names for k = 1..K: refuse a report, page or palette
    file that is one of them (the image would replace it, or it the image)."""
    wanted = {os.path.realpath(item.path): item for item in extra}
    folders = {os.path.dirname(path) for path in wanted}
    for job in jobs:
        if job.name is None:
            continue
        folder = os.path.realpath(job.name.folder)
        if folder not in folders:
            continue
        for candidate in range(1, k + 1):
            item = wanted.get(os.path.join(folder, job.name(candidate).name))
            if item is not None:
                raise UsageError(
                    f"{item.label} may be the output of {job.input} (its name depends on "
                    f"the k the target finds: k={candidate}); give it another name"
                )


def fit_shared(
    jobs: list,
    settings: CompressSettings,
    weight: str,
    export: Path,
    skip_existing: bool,
    warn: Callable[[list[str]], None],
) -> tuple[CompressSettings, str]:
    """``settings`` mapping every job's image onto one palette fitted over all of them
    (:func:`kquant.run.shared.shared_palette`), written whole in every output, with a line
    that says what was done; the palette is written to ``export``
    (:func:`shared_palette_file` by default). Images that cannot be read are left out
    of the fit (their jobs report the error). The warnings about the images read are
    given to ``warn`` as soon as they are known, before the palette file is written
    (so a failed write does not hide them).

    With ``skip_existing`` and a palette file already there, the run resumes an
    earlier one: its palette is read back and used as it is (the outputs written
    before and after map onto the same colors), nothing is fitted or rewritten.

    Raises
    ------
    KquantError
        The palette file cannot be read back (out of memory: a
        :class:`~kquant.errors.NotEnoughMemoryError` naming it) or written.
    """
    from kquant.io.images import write_atomically
    from kquant.io.palettes import read_palette, write_palette
    from kquant.run.shared import shared_palette

    if skip_existing and not settings.overwrite and export.is_file():
        try:
            with per_image(export) as heard:
                colors = read_palette(export, max_pixels=None)
        except MemoryError as exc:  # named, as every other path names the file
            if isinstance(exc, KquantError):
                raise
            raise NotEnoughMemoryError(f"{export}: not enough memory") from None
        warn([f"{export}: {line}" for line in heard])
        said = (f"shared palette of {len(colors)} colors read from {export} "
                "(--skip-existing: the run it resumes)")  # fmt: skip
        return settings.replace(palette=colors, whole_palette=True, keep_colors=()), said
    export.parent.mkdir(parents=True, exist_ok=True)  # the run makes the outputs' folders anyway
    keep = np.array(settings.keep_colors, np.uint8) if settings.keep_colors else None
    shared = shared_palette(
        [job.input for job in jobs],
        settings.k,
        settings.fit,
        keep=keep,
        weight=weight,
        max_pixels=settings.max_pixels,
        skip_errors=True,
    )
    warn(shared.warnings)
    text = write_palette(export, shared.palette, shared.shares).encode()
    if not (export.exists() and not settings.overwrite and export.read_bytes() == text):
        write_atomically(export, lambda fh: fh.write(text), overwrite=settings.overwrite)
    said = (f"shared palette of {shared.palette.shape[0]} colors over {shared.images} images "
            f"-> {export}")  # fmt: skip
    settings = settings.replace(palette=shared.palette, whole_palette=True, keep_colors=())
    return settings, said


def refuse_counts_as_inputs(inputs: tuple[str, ...]) -> None:
    """``kquant compress x.jpg 64``: a bare number that is not a file is a number of
    colors given without -k (pngquant takes it that way); say so."""
    for raw in inputs:
        if raw.isdigit() and not Path(raw).exists():
            raise UsageError(f"{raw}: no such file; for {raw} colors, use -k {raw}")
