"""``kquant compress``: one image, many, or a whole tree, with reports."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
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
    from kquant.settings import CompressSettings


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
def compress(inputs: tuple[str, ...], **options: Any) -> None:
    """Quantize each INPUT to at most K colors and write it, with a report.

    \b
    Examples:
      kquant compress photo.jpg -k 64                # writes photo-k64.png
      kquant compress -r photos/ -o small/ --report run.csv
      kquant compress photo.jpg -k 16 -o small.webp  # the suffix picks the format

    INPUT: an image, a folder (-r: subfolders), a glob, or - (stdin). Outputs go
    beside each input or under -o; nothing is replaced without --force.
    """
    from kquant.cli.rows import RowPrinter, row_format
    from kquant.run.batch import ReportWriter
    from kquant.run.plan import refuse_existing_outputs
    from kquant.run.report import row_columns
    from kquant.run.written import make_folder

    o = SimpleNamespace(**options)
    rows = RowPrinter(row_format(o.as_json, o.as_csv), columns=row_columns())
    if o.jobs is not None and o.jobs < 1:
        raise click.BadParameter(f"{o.jobs} is not a number of processes (1 or more)",
                                 param_hint="'-j' / '--jobs'")  # fmt: skip
    with library_errors():
        settings = _settings(o)
        inputs = (*inputs, *_listed(o.files_from, o.null, inputs))
        if not inputs and o.files_from is not None:  # a find that matched nothing: as rsync
            if not o.quiet:  # and tar do, nothing to do is not an error
                click.echo(f"kquant: nothing to do: --files-from {o.files_from} lists no files",
                           err=True)  # fmt: skip
            return
        found, plan = _plan(inputs, settings, o, rows)
        if o.dry_run:
            stops = found.batch and not o.overwrite and not o.skip_existing
            _print_plan(plan.jobs, found.skipped + plan.ignored, RowPrinter(rows.fmt),
                        quiet=o.quiet, stops=stops)  # fmt: skip
            return
        for path in (o.report, o.html, o.export):  # made as the outputs' folders are
            if path is not None and str(path) != STDIO:
                make_folder(path)
        if found.batch and not o.overwrite and not o.skip_existing:
            refuse_existing_outputs(plan.jobs)
        existing = "replace" if o.overwrite else "append" if o.skip_existing else "refuse"
        # checked now, created with its first row
        writer = ReportWriter(o.report, existing=existing) if o.report else None
        client, settings = _cluster_and_palette(plan, settings, o)
    _run(found, plan, settings, o, rows, writer, client)


def _settings(o: SimpleNamespace) -> CompressSettings:
    """The settings of the command line; kept colors and a given palette read."""
    from kquant.run.plan import check_options
    from kquant.settings import CompressSettings

    settings = CompressSettings(
        k=o.k, fit=o.fit, target_psnr=o.target_psnr, max_mse=o.max_mse, min_psnr=o.min_psnr,
        dither=o.dither, dither_strength=o.dither_strength, run_budget=o.run_budget,
        metrics=o.metrics,
        max_pixels=o.max_pixels, overwrite=o.overwrite, skip_if_larger=o.skip_if_larger,
        strip=o.strip, optimize=o.optimize, frame_palette=o.frame_palette,
        first_frame=o.first_frame,
    )  # fmt: skip
    if o.keep_colors:
        from kquant.io.palettes import read_colors

        with library_errors("--keep-color"):
            kept = read_colors(o.keep_colors, max_pixels=o.max_pixels)
        settings = settings.replace(keep_colors=kept)
    check_options(settings, palette=o.palette is not None, shared_palette=o.shared_palette,
                  export=o.export)  # fmt: skip
    if o.palette is not None:
        from kquant.io.palettes import read_palette

        with library_errors(o.palette):  # an image as a palette: Pillow's warnings shown
            given = read_palette(o.palette, max_pixels=o.max_pixels)
        settings = settings.replace(palette=given)
        ctx = click.get_current_context()
        if ctx.get_parameter_source("k") is ParameterSource.COMMANDLINE:
            click.echo(f"kquant: warning: -k {o.k} is ignored: --palette {o.palette} fixes the "
                       f"colors ({len(given)})", err=True)  # fmt: skip
    return settings


def _plan(inputs: tuple[str, ...], settings: CompressSettings, o: SimpleNamespace, rows: Any):
    """The inputs found and the jobs planned, every file the run writes checked."""
    from kquant.errors import UsageError
    from kquant.run.batch import expand_inputs, plan_jobs
    from kquant.run.plan import (
        check_run_files,
        files_only,
        refuse_counts_as_inputs,
        shared_palette_file,
    )

    if not inputs:
        raise UsageError("give an INPUT (a file, folder or glob), or --files-from FILE")
    refuse_counts_as_inputs(inputs)
    found = expand_inputs(list(inputs), recursive=o.recursive, include=o.include,
                          exclude=o.exclude)  # fmt: skip
    if not found.items:
        raise UsageError(f"no images found in {', '.join(inputs)}")
    plan = plan_jobs(
        found.items,
        output=o.output,
        batch=found.batch,
        folder=click.get_current_context().meta.get(OUTPUT_IS_FOLDER, False),
        overwrite=settings.overwrite,
        marks=settings.name_marks,
        k=len(settings.palette) if settings.palette else o.k,
        method="palette" if settings.palette else o.fit.method,
        template=o.template,
        k_chosen_later=settings.has_target,
    )
    if rows and o.output is not None and str(o.output) == STDIO:
        raise UsageError(f"--{rows.fmt} cannot share standard output with the image (-o -)")
    if o.shared_palette:
        files_only(plan.jobs, "--shared-palette")
        o.export = o.export or shared_palette_file(plan.jobs, settings.k)
    check_run_files(plan.jobs, report=o.report, html=o.html, export=o.export, k=settings.k,
                    overwrite=o.overwrite, skip_existing=o.skip_existing)  # fmt: skip
    return found, plan


def _cluster_and_palette(
    plan: Any, settings: CompressSettings, o: SimpleNamespace
) -> tuple[Any, CompressSettings]:
    """The cluster client (None: local workers) and the settings with the shared
    palette fitted (``--shared-palette``)."""
    client = None
    if o.cluster:  # the workers' working folders differ: paths are made absolute
        from kquant.run.cluster import absolute_job, connect_for_jobs

        plan.jobs = [absolute_job(job) for job in plan.jobs]
        client = connect_for_jobs(o.cluster, plan.jobs)
    if o.shared_palette:
        from kquant.run.plan import fit_shared

        try:
            settings, said = fit_shared(plan.jobs, settings, o.weight, o.export, o.skip_existing,
                                        show_warnings)  # fmt: skip
        except BaseException:
            if client is not None:
                client.close()
            raise
        if not o.quiet:
            click.echo(f"kquant: {said}", err=True)
    return client, settings


def _run(found: Any, plan: Any, settings: CompressSettings, o: SimpleNamespace, rows: Any,
         writer: Any, client: Any) -> None:  # fmt: skip
    """Run the jobs (:class:`kquant.cli.runner.Runner`), write the page, close the
    report and the cluster; exit with the run's code."""
    from kquant.cli.runner import Runner
    from kquant.run.plan import outputs_folder

    run = Runner(batch=found.batch, quiet=o.quiet, verbose=o.verbose, rows=rows, writer=writer,
                 ignored=found.skipped + plan.ignored, jobs=o.jobs,
                 where=outputs_folder(plan.jobs))  # fmt: skip
    if o.html is not None:
        run.rows = []
    try:
        executor = client.get_executor() if client is not None else None
        run.all(plan.jobs, settings, skip_existing=o.skip_existing, executor=executor)
    finally:
        if o.html is not None and run.rows:
            _write_html(o.html, run.rows)
        if client is not None:
            client.close()
        if writer:
            writer.close()
            if writer.error and not run.report_lost:
                click.echo(f"kquant: error: {writer.error}", err=True)
                run.report_lost = True
    ctx = click.get_current_context()
    if run.failed or run.report_lost:
        ctx.exit(ExitCode.FAILED)
    if run.below_min:
        ctx.exit(ExitCode.BELOW_MIN_PSNR)
    if run.missed:
        ctx.exit(ExitCode.TARGET_MISSED)


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


def _print_plan(jobs: list, ignored: list, rows: Any, *, quiet: bool, stops: bool) -> None:
    """``--dry-run``: each input and its output (data, on stdout), then each file passed
    over and why; nothing is read beyond headers or written. With --json/--csv, rows of
    ``input``, ``output``, ``status`` (``planned``, ``exists``: its output exists;
    ``skipped``: passed over) and ``note`` (why, or that a quality target's search
    chooses the k of the name, shown as ``{k}``). Then, on stderr, one line that
    counts them and says whether the real run would stop (``stops``: existing outputs
    without --skip-existing or --force)."""
    from kquant.run.naming import render

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


def _write_html(path: Path, rows: list[dict]) -> None:
    """The batch's HTML page (:mod:`kquant.analysis.html`): thumbnails of each input and
    output, read back from the files."""
    from kquant.analysis.html import entries_from_rows, render_page
    from kquant.io.images import write_atomically

    with library_errors():
        page = render_page(entries_from_rows(rows, path), f"kquant compress: {len(rows)} images")
        data = page.encode("utf-8")
        write_atomically(path, lambda fh: fh.write(data), overwrite=True)
