"""``kquant compress``: one image, many, or a whole tree, with reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from kquant.cli.errors import library_errors, show_warnings
from kquant.cli.exits import ExitCode
from kquant.cli.options import (
    CONTEXT_SETTINGS,
    OUTPUT_IS_FOLDER,
    SectionedCommand,
    colors_option,
    csv_option,
    fit_options,
    force_option,
    html_option,
    input_options,
    json_option,
    keep_color_option,
    look_options,
    output_options,
    quality_target_options,
    run_options,
    set_options,
    weight_option,
)
from kquant.defaults import STDIO

if TYPE_CHECKING:
    from kquant.settings import FitOptions


#: The options ``compress --help`` lists (``--help-all``: every one).
BRIEF = ("recursive", "k", "output", "template", "overwrite", "skip_existing",
         "skip_if_larger", "optimize", "dither", "target_psnr", "min_psnr", "method",
         "report", "as_json", "as_csv", "quiet", "dry_run", "jobs")  # fmt: skip


@click.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    brief=BRIEF,
    epilog="""\b
More examples:
  kquant compress photo.jpg --target-psnr 38 --dither none  # fewest colors
  kquant compress 'shots/*.png' --name '{stem}.{ext}' -o out/ --skip-existing
  kquant compress -r photos/ -o small/ -j 2 -q    # two worker processes
  kquant compress -r frames/ -o out/ --palette brand.gpl  # one palette
  kquant compress anim.gif -k 64 -o small.webp    # every frame, one palette""",
)
@input_options
@colors_option()
@output_options
@force_option
@look_options
@keep_color_option
@set_options
@weight_option
@quality_target_options
@fit_options(method=True)
@json_option
@csv_option
@html_option
@run_options
def compress(
    inputs: tuple[str, ...],
    recursive: bool,
    files_from: str | None,
    null: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    k: int,
    output: Path | None,
    template: str,
    skip_existing: bool,
    skip_if_larger: bool,
    report: Path | None,
    palette: Path | None,
    strip: bool,
    optimize: int,
    overwrite: bool,
    dither: str,
    dither_strength: float,
    metrics: tuple[str, ...],
    target_psnr: float | None,
    max_mse: float | None,
    min_psnr: float | None,
    keep_colors: tuple[str, ...],
    shared_palette: bool,
    export: Path | None,
    frame_palette: str,
    first_frame: bool,
    weight: str,
    fit: FitOptions,
    max_pixels: int | None,
    as_json: bool,
    as_csv: bool,
    html: Path | None,
    jobs: int | None,
    cluster: str | None,
    quiet: bool,
    dry_run: bool,
    verbose: bool,
) -> None:
    """Quantize each INPUT to at most K colors and write it, with a report.

    \b
    Examples:
      kquant compress photo.jpg -k 64                # writes photo-k64.png
      kquant compress -r photos/ -o small/ --report run.csv
      kquant compress photo.jpg -k 16 -o small.webp  # the suffix picks the format

    INPUT: an image, a folder (-r: subfolders), a glob, or - (stdin). Outputs go
    beside each input or under -o; nothing is replaced without --force.
    """
    from kquant.batch import ReportWriter, expand_inputs, plan_jobs
    from kquant.cli.rows import RowPrinter, row_format
    from kquant.cli.runner import Runner
    from kquant.errors import UsageError
    from kquant.report import row_columns
    from kquant.settings import CompressSettings
    from kquant.written import make_folder

    ctx = click.get_current_context()
    rows = RowPrinter(row_format(as_json, as_csv), columns=row_columns())
    if jobs is not None and jobs < 1:
        raise click.BadParameter(f"{jobs} is not a number of processes (1 or more)",
                                 param_hint="'-j' / '--jobs'")  # fmt: skip
    with library_errors():
        settings = CompressSettings(
            k=k,
            fit=fit,
            target_psnr=target_psnr,
            max_mse=max_mse,
            min_psnr=min_psnr,
            dither=dither,
            dither_strength=dither_strength,
            metrics=metrics,
            max_pixels=max_pixels,
            overwrite=overwrite,
            skip_if_larger=skip_if_larger,
            strip=strip,
            optimize=optimize,
            frame_palette=frame_palette,
            first_frame=first_frame,
        )
        if keep_colors:
            from kquant.palettes import read_colors

            with library_errors("--keep-color"):
                kept = read_colors(keep_colors, max_pixels=max_pixels)
            settings = settings.replace(keep_colors=kept)
        if shared_palette and palette is not None:
            raise UsageError("--palette maps onto a given palette; --shared-palette fits one: "
                             "give one of them")  # fmt: skip
        if export is not None and not shared_palette:
            raise UsageError("--export writes the palette of --shared-palette; add it")
        if shared_palette and settings.has_target:
            raise UsageError("a shared palette fixes the colors: it does not go with a quality "
                             "target")  # fmt: skip
        if palette is not None:
            from kquant.palettes import read_palette

            with library_errors(palette):  # an image as a palette: Pillow's warnings shown
                given = read_palette(palette, max_pixels=max_pixels)
            settings = settings.replace(palette=given)
            if ctx.get_parameter_source("k") is ParameterSource.COMMANDLINE:
                click.echo(f"kquant: warning: -k {k} is ignored: --palette {palette} fixes the "
                           f"colors ({len(given)})", err=True)  # fmt: skip
        inputs = (*inputs, *_listed(files_from, null, inputs))
        if not inputs and files_from is not None:  # a find that matched nothing: as rsync
            if not quiet:  # and tar do, nothing to do is not an error
                click.echo(f"kquant: nothing to do: --files-from {files_from} lists no files",
                           err=True)  # fmt: skip
            return
        if not inputs:
            raise UsageError("give an INPUT (a file, folder or glob), or --files-from FILE")
        _refuse_counts_as_inputs(inputs)
        found = expand_inputs(list(inputs), recursive=recursive, include=include, exclude=exclude)
        if not found.items:
            raise UsageError(f"no images found in {', '.join(inputs)}")
        plan = plan_jobs(
            found.items,
            output=output,
            batch=found.batch,
            folder=ctx.meta.get(OUTPUT_IS_FOLDER, False),
            overwrite=settings.overwrite,
            marks=settings.name_marks,
            k=len(settings.palette) if settings.palette else k,
            method="palette" if settings.palette else fit.method,
            template=template,
            k_chosen_later=settings.has_target,
        )
        if rows and output is not None and str(output) == STDIO:
            raise UsageError(f"--{rows.fmt} cannot share standard output with the image (-o -)")
        if shared_palette:
            _files_only(plan.jobs, "--shared-palette")
            export = export or _palette_file(plan.jobs, settings.k)
        _check_run_files(plan.jobs, report=report, html=html, export=export, k=settings.k,
                         overwrite=overwrite, skip_existing=skip_existing)  # fmt: skip
        if not dry_run:  # the report's, page's and palette's folders, as outputs' are
            for path in (report, html, export):
                if path is not None and str(path) != STDIO:
                    make_folder(path)
        if dry_run:
            _print_plan(
                plan.jobs,
                found.skipped + plan.ignored,
                RowPrinter(rows.fmt),
                quiet=quiet,
                stops=found.batch and not overwrite and not skip_existing,
            )
            return
        if found.batch and not overwrite and not skip_existing:
            _refuse_existing_outputs(plan.jobs)
        existing = "replace" if overwrite else "append" if skip_existing else "refuse"
        # checked now, created with its first row
        writer = ReportWriter(report, existing=existing) if report else None
        client = None
        if cluster:  # the workers' working folders differ: paths are made absolute
            plan.jobs = [_absolute(job) for job in plan.jobs]
            client = _connect(cluster, plan.jobs)
        if shared_palette:
            try:
                assert export is not None  # --shared-palette always has a file
                settings = _fit_shared(plan.jobs, settings, weight, export, quiet, skip_existing)
            except BaseException:
                if client is not None:
                    client.close()
                raise
    run = Runner(
        batch=found.batch,
        quiet=quiet,
        verbose=verbose,
        rows=rows,
        writer=writer,
        ignored=found.skipped + plan.ignored,
        jobs=jobs,
        where=_where(plan.jobs),
    )
    if html is not None:
        run.rows = []
    try:
        executor = client.get_executor() if client is not None else None
        run.all(plan.jobs, settings, skip_existing=skip_existing, executor=executor)
    finally:
        if html is not None and run.rows:
            _write_html(html, run.rows)
        if client is not None:
            client.close()
        if writer:
            writer.close()
            if writer.error and not run.report_lost:
                click.echo(f"kquant: error: {writer.error}", err=True)
                run.report_lost = True
    if run.failed or run.report_lost:
        click.get_current_context().exit(ExitCode.FAILED)
    if run.below_min:
        click.get_current_context().exit(ExitCode.BELOW_MIN_PSNR)
    if run.missed:
        click.get_current_context().exit(ExitCode.TARGET_MISSED)


def _files_only(jobs: list, flag: str) -> None:
    """Refuse ``-`` (standard input or output) for an option that needs files."""
    from kquant.errors import UsageError

    if any(STDIO in (str(job.input), str(job.output)) for job in jobs):
        raise UsageError(f"{flag} reads and writes files: not - (standard input/output)")


def _palette_file(jobs: list, k: int) -> Path:
    """Where ``--shared-palette`` writes its palette without ``--export``:
    ``palette-k<K>.gpl`` in the outputs' common folder."""
    import os

    folder = Path(os.path.commonpath([str(job.output.parent.absolute()) for job in jobs]))
    return folder / f"palette-k{k}.gpl"


def _check_run_files(
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
    (:func:`kquant.written.check_files`): outputs, report, page and palette file are
    all different files and none is an input (exit 2, with or without --force); the
    page or palette file exists: exit 1 without --force. The report's
    existence is checked by its writer (--skip-existing appends to it); an existing
    palette file is kept with --skip-existing."""
    from kquant.written import Written, check_files

    files = [Written(job.output, f"the output of {job.input}", check_exists=False,
                     replaces=job.input) for job in jobs if job.name is None]  # fmt: skip
    others = (("--report", report, False), ("--html", html, True),
              ("--export", export, not skip_existing))  # fmt: skip
    extra = [Written(path, flag, check) for flag, path, check in others if path is not None]
    check_files(files + extra, [job.input for job in jobs], overwrite=overwrite)
    _check_names_chosen_later(jobs, extra, k)


def _listed(files_from: str | None, null: bool, inputs: tuple[str, ...]) -> list[str]:
    """The inputs listed in ``--files-from`` (``-``: standard input), one a line or
    NUL-separated with ``-0`` (as ``find -print0`` writes them); names that are not
    UTF-8 are kept byte for byte (``os.fsdecode``). Empty entries are skipped."""
    import os

    if files_from is None:
        if null:
            raise click.UsageError("-0 says how --files-from is separated; add --files-from FILE")
        return []
    if files_from == STDIO:
        from kquant.cli.runner import _stream

        if STDIO in inputs:
            raise click.UsageError("standard input cannot hold an image (-) and --files-from -")
        data = _stream("stdin").read()
    else:
        try:
            data = Path(files_from).read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"{files_from}: {exc.strerror or exc}",
                                     param_hint="--files-from") from None  # fmt: skip
    entries = data.split(b"\0") if null else data.splitlines()
    return [os.fsdecode(entry) for entry in entries if entry]


def _where(jobs: list) -> str:
    """Where a run's outputs go, for its end line: ``in FOLDER/`` when they share one
    (below it for a tree), else ``beside their inputs``."""
    import os

    if all(job.output.parent == job.input.parent for job in jobs):
        return "beside their inputs"
    common = os.path.commonpath([str(job.output.parent) for job in jobs])
    return f"in {common}{os.sep}"


def _print_plan(jobs: list, ignored: list, rows: Any, *, quiet: bool, stops: bool) -> None:
    """``--dry-run``: each input and its output (data, on stdout), then each file passed
    over and why; nothing is read beyond headers or written. With --json/--csv, rows of
    ``input``, ``output``, ``status`` (``planned``, ``exists``: its output exists;
    ``skipped``: passed over) and ``note`` (why, or that a quality target's search
    chooses the k of the name, shown as ``{k}``). Then, on stderr, one line that
    counts them and says whether the real run would stop (``stops``: existing outputs
    without --skip-existing or --force)."""
    from kquant.naming import render

    existing = 0
    for job in jobs:
        output, note, status = str(job.output), None, "planned"
        if job.name is not None:
            name = job.name
            output = str(name.folder / render(name.template, name.input, k="{k}",
                                              method=name.method))  # fmt: skip
            note = "k found by the search"
        elif str(job.output) != STDIO and job.output.exists():
            status, note = "exists", "exists"
            existing += 1
        if rows:
            rows({"input": str(job.input), "output": output, "status": status, "note": note})
        else:
            click.echo(f"{job.input} -> {output}" + (f" ({note})" if note else ""))
    for path, why in ignored:
        if rows:
            rows({"input": str(path), "output": None, "status": "skipped", "note": why})
        else:
            click.echo(f"{path}: ignored ({why})")
    if not quiet:
        stop = (
            (
                f"; the run would stop: {existing} of {len(jobs)} outputs exist "
                "(--skip-existing to resume, --force to redo)"
            )
            if stops and existing
            else ""
        )
        click.echo(f"kquant: dry run: {len(jobs) - existing} to write, {existing} existing, "
                   f"{len(ignored)} ignored; nothing written{stop}", err=True)  # fmt: skip


def _refuse_existing_outputs(jobs: list) -> None:
    """A batch run again without --skip-existing or --force: one line before any work,
    with both ways on (was a line a file, then "N failed")."""
    existing = [job.output for job in jobs if job.name is None and job.output.exists()]
    if existing:
        some = f"{existing[0]}" + (f" and {len(existing) - 1} more" if len(existing) > 1 else "")
        raise click.ClickException(
            f"{len(existing)} of {len(jobs)} outputs exist ({some}): --skip-existing to "
            "resume, --force to redo"
        )


def _check_names_chosen_later(jobs: list, extra: list, k: int) -> None:
    """An output whose name depends on the k a quality target finds (``{k}`` in
    ``--name``) may be any of its names for k = 1..K: refuse a report, page or palette
    file that is one of them (the image would replace it, or it the image)."""
    import os

    from kquant.errors import UsageError

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


def _fit_shared(
    jobs: list, settings: Any, weight: str, export: Path, quiet: bool, skip_existing: bool
) -> Any:
    """``settings`` mapping every job's image onto one palette fitted over all of them
    (:func:`kquant.shared.shared_palette`), written whole in every output; the palette
    is written to ``export`` (:func:`_palette_file` by default). Images that cannot be
    read are left out of the fit (their jobs report the error).

    With ``skip_existing`` and a palette file already there, the run resumes an
    earlier one: its palette is read back and used as it is (the outputs written
    before and after map onto the same colors), nothing is fitted or rewritten."""
    from kquant.images import write_atomically
    from kquant.palettes import read_palette, write_palette
    from kquant.shared import shared_palette

    if skip_existing and not settings.overwrite and export.is_file():
        with library_errors(export):
            colors = read_palette(export, max_pixels=None)
        if not quiet:
            click.echo(f"kquant: shared palette of {len(colors)} colors read from {export} "
                       "(--skip-existing: the run it resumes)", err=True)  # fmt: skip
        return settings.replace(palette=colors, whole_palette=True, keep_colors=())
    export.parent.mkdir(parents=True, exist_ok=True)  # the run makes the outputs' folders anyway
    keep = None
    if settings.keep_colors:
        import numpy as np

        keep = np.array(settings.keep_colors, np.uint8)
    shared = shared_palette(
        [job.input for job in jobs],
        settings.k,
        settings.fit,
        keep=keep,
        weight=weight,
        max_pixels=settings.max_pixels,
        skip_errors=True,
    )
    show_warnings(shared.warnings)
    text = write_palette(export, shared.palette, shared.shares).encode()
    if not (export.exists() and not settings.overwrite and export.read_bytes() == text):
        write_atomically(export, lambda fh: fh.write(text), overwrite=settings.overwrite)
    if not quiet:
        click.echo(f"kquant: shared palette of {shared.palette.shape[0]} colors over "
                   f"{shared.images} images -> {export}", err=True)  # fmt: skip
    return settings.replace(palette=shared.palette, whole_palette=True, keep_colors=())


def _write_html(path: Path, rows: list[dict]) -> None:
    """The batch's HTML page (:mod:`kquant.html`): thumbnails of each input and
    output, read back from the files."""
    from kquant.html import entries_from_rows, render_page
    from kquant.images import write_atomically

    with library_errors():
        page = render_page(entries_from_rows(rows, path), f"kquant compress: {len(rows)} images")
        data = page.encode("utf-8")
        write_atomically(path, lambda fh: fh.write(data), overwrite=True)


def _refuse_counts_as_inputs(inputs: tuple[str, ...]) -> None:
    """``kquant compress x.jpg 64``: a bare number that is not a file is a number of
    colors given without -k (pngquant takes it that way); say so."""
    from kquant.errors import UsageError

    for raw in inputs:
        if raw.isdigit() and not Path(raw).exists():
            raise UsageError(f"{raw}: no such file; for {raw} colors, use -k {raw}")


#: Seconds --cluster gives the address to prove it is a Dask scheduler, whatever
#: answers there (or nothing): the bound of :func:`kquant.cluster.connect`.
CONNECT_TIMEOUT = 5.0


def _connect(address: str, jobs: list) -> Any:
    """A :class:`kquant.cluster.Cluster` on the scheduler at ``address`` whose workers
    can all read the inputs and write the output folders of ``jobs`` (checked on one
    of each, before any work). Dask's log lines are silenced until it is closed: the
    errors are kquant's one-line ones. Called inside ``library_errors``.

    Raises
    ------
    kquant.errors.UsageError
        ``distributed`` is not installed, standard input or output, or a worker
        cannot see the paths.
    kquant.cluster.SchedulerUnreachable
        No Dask scheduler answers at ``address`` (within :data:`CONNECT_TIMEOUT`).
    """
    from kquant.errors import UsageError

    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(
            "--cluster needs Dask: pip install 'kquant[cluster]' (or dask[distributed])"
        ) from None
    from kquant.cluster import connect

    _files_only(jobs[:1], "--cluster")
    cluster = connect(address, timeout=CONNECT_TIMEOUT, quiet=True)
    if jobs:
        job = jobs[0]
        folder = job.output.parent
        while not folder.exists() and folder != folder.parent:  # created by the run
            folder = folder.parent
        seen = cluster.run(_sees, str(job.input.resolve()), str(folder.resolve()))
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if blind:
            cluster.close()
            raise UsageError(
                f"{job.input}: the cluster's workers {', '.join(blind)} cannot read it or "
                f"write in {folder}; --cluster needs paths every worker sees (a shared "
                "filesystem)"
            )
    return cluster


def _sees(path: str, folder: str) -> bool:
    """On a worker: can it read ``path`` and write in ``folder``?"""
    import os

    return os.access(path, os.R_OK) and os.access(folder, os.W_OK | os.X_OK)


def _absolute(job: Any) -> Any:
    """``job`` with absolute paths (for workers elsewhere); - (standard input or
    output) stays as it is, for :func:`_connect` to refuse."""
    import dataclasses

    def absolute(path: Path) -> Path:
        return path if str(path) == STDIO else path.absolute()

    name = job.name
    if name is not None:
        name = dataclasses.replace(name, folder=name.folder.absolute(), input=absolute(name.input))
    return dataclasses.replace(job, input=absolute(job.input), output=absolute(job.output),
                               name=name)  # fmt: skip
