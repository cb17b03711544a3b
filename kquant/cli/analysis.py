"""The analysis commands: ``compare`` (methods side by side), ``palette`` (the
colors and palette files) and ``sweep`` (choosing k). Like every command, they
import numpy, Pillow and scikit-learn only when they run.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kquant.cli.errors import library_errors, show_warnings
from kquant.cli.options import (
    COLORS,
    CONTEXT_SETTINGS,
    OUTPUT,
    REPORTING,
    CountOrWord,
    SectionedCommand,
    colors_option,
    csv_option,
    dither_options,
    fit_options,
    force_option,
    html_option,
    image_argument,
    images_argument,
    json_option,
    keep_color_option,
    look_options,
    methods_option,
    option,
    quiet_option,
    target_psnr_option,
    verbose_option,
    weight_option,
)
from kquant.cli.rows import row_format
from kquant.defaults import (
    DEFAULT_METHOD,
    DEFAULT_METRIC_SAMPLE,
    DEFAULT_PALETTE_COLORS,
    DEFAULT_SHEET_WIDTH,
    DEFAULT_SWEEP_COLORS,
    DEFAULT_SWEEP_TARGET_PSNR,
    METHODS,
    METRIC_DECIMALS,
    METRIC_FIELDS,
    STDIO,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kquant.settings import FitOptions


@click.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant compare photo.jpg -k 64
  kquant compare photo.jpg -k 16 --methods kmeans,random --side-by-side s.png
  kquant compare photo.jpg --save-dir results/ --json""",
)
@image_argument
@colors_option()
@methods_option(",".join(METHODS))
@fit_options
@look_options
@option(
    OUTPUT,
    "--side-by-side",
    "sheet",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write one picture with the original and each result, labelled.",
)
@option(
    OUTPUT,
    "--width",
    type=CountOrWord("none"),
    default=DEFAULT_SHEET_WIDTH,
    show_default=True,
    metavar="PX|NONE",
    help="The --side-by-side picture's width at most; none: panels at full size.",
)
@option(
    OUTPUT,
    "--zoom",
    is_flag=True,
    help="With --side-by-side: add the crop where the methods differ most, magnified.",
)
@option(
    OUTPUT,
    "--save-dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Keep each result in this folder, named as compress would (photo-k16-random.png).",
)
@html_option
@option(
    REPORTING,
    "--repeat",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Run each method with N seeds (--seed, +1, ...): mean ± sd, min and max.",
)
@force_option
@json_option
@csv_option
@quiet_option
@verbose_option("Say the settings used (space, dither, seed, sample) on stderr.")
def compare(
    image: Path,
    k: int,
    methods: str,
    fit: FitOptions,
    max_pixels: int | None,
    dither: str,
    dither_strength: float,
    metrics: tuple[str, ...],
    sheet: Path | None,
    width: int | None,
    zoom: bool,
    save_dir: Path | None,
    html: Path | None,
    repeat: int,
    overwrite: bool,
    as_json: bool,
    as_csv: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run several methods on IMAGE with the same k and seed, and compare them.

    Prints one row per method: colors, MSE, PSNR, max error, the --metrics asked
    for, size of the indexed PNG, and seconds (fit and map). The classic question,
    whether k-means is worth it over a random codebook, answered on your own image.
    """
    from kquant.analysis.comparison import (
        compare_methods,
        comparison_rows,
        saved_paths,
        write_comparison,
    )
    from kquant.cli.rows import RowPrinter
    from kquant.run.naming import name_marks
    from kquant.run.written import Written, check_files

    printer = RowPrinter(row_format(as_json, as_csv))
    names = _methods(methods)
    ctx = click.get_current_context()
    drawn = [f"--{n}" for n in ("zoom", "width")
             if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]  # fmt: skip
    if sheet is None and drawn:
        raise click.UsageError(f"{drawn[0]} draws on the --side-by-side picture; add it")
    if width is not None and width < 64:
        raise click.BadParameter(f"{width} px is too narrow for a sheet (64 or more, or none)",
                                 param_hint="'--width'")  # fmt: skip
    marks = name_marks(space=fit.space, dither=dither, strength=dither_strength, seed=fit.seed)
    with library_errors(image):
        saved = saved_paths(save_dir, _stem(image), names, k, marks) if save_dir else []
        check_files([*(Written(path, "--save-dir") for path in saved),
                     *_flagged(("--side-by-side", sheet), ("--html", html))], [image],
                    overwrite=overwrite, make_folders=True)  # fmt: skip
        drawing = None if sheet is None else (sheet, picture_format(sheet, "sheet"))
        pixels = read_image(image, max_pixels, quiet)
        _settings_used(fit, dither, dither_strength, verbose and not quiet)
        results = compare_methods(pixels, k, names, fit, dither=dither, repeat=repeat,
                                  dither_strength=dither_strength, metrics=metrics)  # fmt: skip
        size = None if str(image) == STDIO else image.stat().st_size
        rows = comparison_rows(str(image), results, k, size)
        write_comparison(pixels, results, k, rows, title=str(image), saved=saved, sheet=drawing,
                         zoom=zoom, width=width, html=html, overwrite=overwrite)  # fmt: skip
    if printer:
        for row in rows:
            printer(row)
        return
    _print_comparison(rows, metrics, repeat)


def _print_comparison(rows: list[dict], metrics: tuple[str, ...], repeat: int) -> None:
    """``compare``'s table: a row per method, then with ``repeat`` the spread."""
    extra = [(METRIC_FIELDS[name], name) for name in metrics]
    click.echo(f"{'method':<10} {'colors':>6} {'MSE':>9} {'PSNR dB':>8} {'max err':>7} "
               + "".join(f" {label:>11}" for _, label in extra)
               + f" {'bytes':>10} {'seconds':>8}")  # fmt: skip
    for row in rows:
        psnr = "lossless" if row["psnr"] is None else f"{row['psnr']:.2f}"
        measured = "".join(f" {row[key]:>11.{METRIC_DECIMALS[key]}f}" for key, _ in extra)
        click.echo(f"{row['method']:<10} {row['colors_out']:>6} {row['mse']:>9.2f} {psnr:>8} "
                   f"{row['max_error']:>7}{measured} {row['bytes_out']:>10,} "
                   f"{row['seconds']['total']:>8.2f}")  # fmt: skip
    if repeat > 1:
        click.echo(f"\nover {repeat} seeds ({rows[0]['seeds'][0]}..{rows[0]['seeds'][-1]}); "
                   "the rows above are the first seed's")  # fmt: skip
        click.echo(f"{'method':<10} {'MSE mean ± sd':>17} {'min':>8} {'max':>8} "
                   f"{'PSNR mean ± sd':>16} {'min':>7} {'max':>7}")  # fmt: skip
        for row in rows:
            psnr = (
                "lossless".rjust(32)
                if row["psnr_mean"] is None
                else f"{row['psnr_mean']:>8.2f} ± {row['psnr_std']:<5.2f} "
                f"{row['psnr_min']:>7.2f} {row['psnr_max']:>7.2f}"
            )
            click.echo(f"{row['method']:<10} {row['mse_mean']:>9.2f} ± {row['mse_std']:<5.2f} "
                       f"{row['mse_min']:>8.2f} {row['mse_max']:>8.2f} {psnr}")  # fmt: skip


@click.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant palette photo.jpg -k 8
  kquant palette photo.jpg -k 16 --swatch swatch.png --export colors.gpl
  kquant palette logo.png -k 4 --json
  kquant palette icons/*.png -k 32 --weight equal --export icons.gpl""",
)
@images_argument
@colors_option(DEFAULT_PALETTE_COLORS)
@keep_color_option
@weight_option
@fit_options
@option(
    OUTPUT,
    "--swatch",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Draw the palette as bands as wide as each color's share (.png, .jpg...).",
)
@option(
    OUTPUT,
    "--export",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the palette as GIMP .gpl, .json or a .txt hex list, by suffix.",
)
@force_option
@json_option
@csv_option
@quiet_option
@verbose_option("Say the settings used (space, seed, sample) on stderr.")
def palette(
    images: tuple[Path, ...],
    k: int,
    keep_colors: tuple[str, ...],
    weight: str,
    fit: FitOptions,
    max_pixels: int | None,
    swatch: Path | None,
    export: Path | None,
    overwrite: bool,
    as_json: bool,
    as_csv: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Fit a K-color palette to IMAGE and list it by share: hex, RGB, share %.

    The palette is the one `compress` would write with the same options (of an
    animation, fitted on all its frames); export it to reuse it with
    `compress --palette`. With several images, one palette is
    fitted over all of them (their colors counted together; --weight equal gives
    each image the same weight whatever its size): the palette that
    `compress --shared-palette` writes for them.
    """
    from kquant.cli.rows import RowPrinter
    from kquant.core.quantizer import quantize
    from kquant.io.palettes import palette_shares, read_colors, to_hex, write_palette_files
    from kquant.run.written import check_files

    printer = RowPrinter(row_format(as_json, as_csv))
    with library_errors(images[0] if len(images) == 1 else f"{len(images)} images"):
        check_files(_flagged(("--export", export), ("--swatch", swatch)), images,
                    overwrite=overwrite, make_folders=True)  # fmt: skip
        drawn = None if swatch is None else (swatch, picture_format(swatch, "swatch"))
        with library_errors("--keep-color"):
            keep = read_colors(keep_colors, max_pixels=max_pixels) if keep_colors else None
        _settings_used(fit, None, 1.0, verbose and not quiet)
        if len(images) == 1 and not _animated(images[0]):
            q = quantize(read_image(images[0], max_pixels, quiet), k, options=fit, keep=keep)
            colors, shares = palette_shares(q)
        else:
            from kquant.run.shared import shared_palette

            if any(str(image) == STDIO for image in images):
                raise click.UsageError("- (standard input) takes one image only")
            fitted = shared_palette(images, k, fit, keep=keep, weight=weight, max_pixels=max_pixels)
            colors, shares = fitted.palette, fitted.shares
            if not quiet:
                show_warnings(fitted.warnings)
        write_palette_files(colors, shares, export=export, swatch=drawn, overwrite=overwrite)
    source = str(images[0]) if len(images) == 1 else [str(image) for image in images]
    for color, share in zip(colors, shares, strict=True):
        rgb = [int(v) for v in color[:3]]
        if printer:
            printer({"input": source, "hex": to_hex(color), "rgb": rgb, "share": float(share)})
        else:
            click.echo(f"{to_hex(color)}  {rgb[0]:3d} {rgb[1]:3d} {rgb[2]:3d}  {100 * share:6.2f}%")


@click.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant sweep photo.jpg -k 2..256
  kquant sweep photo.jpg -k 4..256 --methods kmeans,random --plot curves.png
  kquant sweep photo.jpg -k 4,8,16,32 --target-psnr 35 --csv > k.csv""",
)
@image_argument
@option(
    COLORS,
    "-k",
    "--colors",
    "ks",
    default=DEFAULT_SWEEP_COLORS,
    metavar="LIST",
    show_default=True,
    help="k to try: a list (2,4,8) or a range (2..256, doubling).",
)
@methods_option(DEFAULT_METHOD)
@fit_options
@dither_options
@option(
    REPORTING,
    "--metric-sample",
    type=int,
    metavar="N",
    default=DEFAULT_METRIC_SAMPLE,
    show_default=True,
    help="Pixels the silhouette and Calinski-Harabasz scores use (silhouette is quadratic in it).",
)
@target_psnr_option("Suggest first the smallest k reaching this PSNR.", DEFAULT_SWEEP_TARGET_PSNR)
@option(
    OUTPUT,
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Draw the curves against k, a line per method (.png/.svg/.pdf; kquant[plot]).",
)
@force_option
@json_option
@csv_option
@quiet_option
@verbose_option("Say the settings used (space, dither, seed, sample) on stderr.")
def sweep(
    image: Path,
    ks: str,
    methods: str,
    fit: FitOptions,
    max_pixels: int | None,
    dither: str,
    dither_strength: float,
    metric_sample: int,
    target_psnr: float,
    plot: Path | None,
    overwrite: bool,
    as_json: bool,
    as_csv: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Quantize IMAGE at several k, with one or more methods, to choose k.

    One row per method and k: inertia (squared RGB error of the undithered mapping,
    on every pixel), silhouette and Calinski-Harabasz scores (on one seeded pixel
    sample), then colors, MSE, PSNR and PNG bytes of the image compress would write
    (dithered unless --dither none), seconds. Then, for each method, a suggested k
    (on stderr): the smallest k reaching --target-psnr (38 dB unless told), the
    elbow of the inertia curve, the highest silhouette. --json ends with one
    object per method holding its suggestions.
    """
    from kquant.analysis.sweep import check_sweep, parse_ks, suggest
    from kquant.analysis.sweep import sweep as run_sweep
    from kquant.cli.rows import RowPrinter
    from kquant.run.written import check_files

    printer = RowPrinter(row_format(as_json, as_csv))
    names = _methods(methods)
    if plot is not None:
        _need_matplotlib()
    with library_errors(image):
        k_list = parse_ks(ks)
        check_sweep(metric_sample=metric_sample, target_psnr=target_psnr)
        check_files(_flagged(("--plot", plot)), [image], overwrite=overwrite, make_folders=True)
        if plot is not None:
            from kquant.analysis.plots import plot_format

            plot_fmt = plot_format(plot)
        pixels = read_image(image, max_pixels, quiet)
        _settings_used(fit, dither, dither_strength, verbose and not quiet)
        with _sweep_bar(names, k_list, quiet) as progress:
            rows = run_sweep(pixels, k_list, options=fit, dither=dither, methods=names,
                             dither_strength=dither_strength, metric_sample=metric_sample,
                             progress=progress)  # fmt: skip
        tips = {name: suggest([r for r in rows if r.method == name], target_psnr)
                for name in names}  # fmt: skip
        size = None if str(image) == STDIO else image.stat().st_size
        if plot is not None:
            from kquant.analysis.plots import write_plot

            write_plot(plot, plot_fmt, rows, tips, title=_stem(image), target_psnr=target_psnr,
                       input_bytes=size, overwrite=overwrite)  # fmt: skip
    if printer:
        _print_sweep_rows(printer, image, rows, size, tips if as_json else None, target_psnr)
    else:
        _print_sweep_table(rows, several=len(names) > 1)
    if not quiet:
        _say_suggestions(rows, tips, size, target_psnr, dither != "none" and dither_strength > 0)


def _need_matplotlib() -> None:
    """Fail (exit 1) before any work when ``--plot`` cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "--plot needs matplotlib: pip install 'kquant[plot]' (or matplotlib)"
        ) from None


@contextlib.contextmanager
def _sweep_bar(
    names: list[str], ks: list[int], quiet: bool
) -> Iterator[Callable[[str, int], None]]:
    """A progress bar on stderr over every (method, k) of a sweep; yields the
    sweep's ``progress`` callback."""
    from tqdm import tqdm

    steps = [(name, k) for name in names for k in ks]
    with tqdm(total=len(steps), file=sys.stderr, disable=True if quiet else None,
              leave=False) as bar:  # fmt: skip

        def progress(method: str, k: int) -> None:
            bar.set_description_str(f"{method} k={k}" if len(names) > 1 else f"k={k}")
            bar.update(steps.index((method, k)) - bar.n)

        yield progress


def _say_suggestions(
    rows: list, tips: dict, size: int | None, target_psnr: float, dithered: bool
) -> None:
    """The sweep's lines on stderr: the input's size, the metric sample, and each
    method's suggested k."""
    if size is not None:
        from kquant.run.report import human_bytes

        click.echo(f"the input: {human_bytes(size)} ({size:,} bytes)", err=True)
    click.echo(f"silhouette and Calinski-Harabasz on {rows[0].metric_sample} sampled pixels",
               err=True)  # fmt: skip
    names = list(tips)
    for name in names:
        mine = [r for r in rows if r.method == name]
        click.echo(_suggestion_line(name if len(names) > 1 else None, tips[name],
                                    target_psnr, mine, dithered), err=True)  # fmt: skip


def _print_sweep_rows(
    printer, image: Path, rows: list, size: int | None, tips: dict | None, target: float
) -> None:
    """``sweep --json``/``--csv``: a row per method and k, in compress's key order;
    with ``tips`` (JSON), then one object per method with its suggestions."""
    for r in rows:
        row = r.to_dict()
        seconds, bytes_out = row.pop("seconds"), row.pop("bytes_out")
        printer({"input": str(image), **row, "bytes_in": size, "bytes_out": bytes_out,
                 "seconds": seconds})  # fmt: skip
    for name, suggested in (tips or {}).items():
        click.echo(json.dumps({"input": str(image), "method": name, "suggested": suggested,
                               "target_psnr": target,
                               "metric_sample": rows[0].metric_sample}))  # fmt: skip


def _print_sweep_table(rows: list, *, several: bool) -> None:
    """``sweep``'s table: a row per k (and method, with ``several``)."""
    click.echo((f"{'method':<10} " if several else "")
               + f"{'k':>5} {'colors':>6} {'inertia':>14} {'MSE':>9} {'PSNR dB':>8} "
               f"{'silhouette':>10} {'CH':>12} {'bytes':>10} {'seconds':>8}")  # fmt: skip
    for r in rows:
        psnr = "lossless" if r.psnr is None else f"{r.psnr:.2f}"
        sil = "-" if r.silhouette is None else f"{r.silhouette:.3f}"
        ch = "-" if r.calinski_harabasz is None else f"{r.calinski_harabasz:.0f}"
        click.echo((f"{r.method:<10} " if several else "")
                   + f"{r.k:>5} {r.colors_out:>6} {r.inertia:>14.0f} {r.mse:>9.2f} "
                   f"{psnr:>8} {sil:>10} {ch:>12} {r.bytes_out:>10,} "
                   f"{r.seconds['total']:>8.2f}")  # fmt: skip


def _suggestion_line(
    method: str | None, tips: dict, target_psnr: float, rows: list, dithered: bool
) -> str:
    """The suggestions of ``sweep`` for one method's ``rows``, in words: ``n/a`` where
    a rule cannot say; when the target is not reached, the best PSNR and what to try."""
    reached = tips["target_psnr"]
    if reached is None:
        best = max(rows, key=lambda r: r.psnr)  # None (lossless) reaches any target
        tries = "a lower --target-psnr" + (", or --dither none" if dithered else "")
        reached = f"not reached (best {best.psnr:.2f} dB, k={best.k}; try {tries})"
    elbow = tips["elbow"] if tips["elbow"] is not None else (
        "n/a (needs 3 k or more)" if len(rows) < 3 else "n/a (flat curve)")  # fmt: skip
    silhouette = tips["silhouette"] if tips["silhouette"] is not None else "n/a"
    return ((f"{method}: " if method else "") + f"suggested k: {target_psnr:g} dB -> {reached}"
            + f"; elbow of inertia -> {elbow}; highest silhouette -> {silhouette}")  # fmt: skip


def picture_format(path: Path, param: str) -> str:
    """The Pillow format of a picture kquant draws (``--swatch``, ``--side-by-side``),
    from its suffix, as for images (:func:`kquant.io.images.format_for`); refused
    before any work otherwise."""
    from kquant.errors import UsageError
    from kquant.io.images import format_for

    try:
        return format_for(path)
    except UsageError as exc:
        raise UsageError(str(exc), params=(param,)) from None


def read_image(image: Path, max_pixels: int | None, quiet: bool = False):
    """The pixels of the IMAGE argument, (H, W, 3|4) uint8; ``-`` reads standard
    input. Of an animation, the first frame, with a note on stderr unless ``quiet``."""
    from kquant.io.images import load_image

    if str(image) == STDIO:
        import io

        if sys.stdin is None:
            raise click.ClickException("standard input is closed: nothing to read")
        source = io.BytesIO(sys.stdin.buffer.read())
        loaded = load_image(source, max_pixels=max_pixels, name=STDIO)
    else:
        loaded = load_image(image, max_pixels=max_pixels)
    if loaded.frames > 1 and not quiet:
        click.echo(f"kquant: note: {image}: the first of its {loaded.frames} frames is used",
                   err=True)  # fmt: skip
    return loaded.pixels


def _methods(text: str) -> list[str]:
    """The methods of ``--methods kmeans,random``, checked (exit 2 otherwise)."""
    from kquant.settings import check_methods

    names = [m.strip() for m in text.split(",") if m.strip()]
    with library_errors():
        check_methods(names)
    return names


def _settings_used(fit: FitOptions, dither: str | None, strength: float, say: bool) -> None:
    """``-v``: the settings a run uses, on stderr (``dither`` None: nothing is drawn)."""
    if say:
        sample = "all pixels" if fit.sample is None else f"{fit.sample:,} pixels"
        drawn = "" if dither is None else (
            f"dither {dither}, " if dither == "none" or strength == 1
            else f"dither {dither} {strength:g}, ")  # fmt: skip
        click.echo(f"kquant: {fit.space} space, {drawn}seed {fit.seed}, fitted on {sample}, "
                   f"n-init {fit.n_init or 'auto'}", err=True)  # fmt: skip


def _animated(image: Path) -> bool:
    """Whether IMAGE is an animation (its palette is then fitted on every frame)."""
    from kquant.io.animation import count_frames

    return str(image) != STDIO and count_frames(image) > 1


def _flagged(*files: tuple[str, Path | None]) -> list:
    """:class:`kquant.run.written.Written` files of the options given (flag, path)."""
    from kquant.run.written import Written

    return [Written(path, flag) for flag, path in files if path is not None]


def _stem(image: Path) -> str:
    """The name files made from IMAGE start with (``stdin`` for ``-``)."""
    return "stdin" if str(image) == STDIO else image.stem
