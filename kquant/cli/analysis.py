"""The analysis commands: ``compare`` (methods side by side), ``palette`` (the
colors and palette files) and ``sweep`` (choosing k). Like every command, they
import numpy, Pillow and scikit-learn only when they run.
"""

from __future__ import annotations

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
    SectionedCommand,
    colors_option,
    dither_options,
    fit_options,
    force_option,
    html_option,
    image_argument,
    images_argument,
    json_option,
    keep_color_option,
    look_options,
    option,
    target_psnr_option,
    weight_option,
)
from kquant.defaults import (
    DEFAULT_METRIC_SAMPLE,
    DEFAULT_PALETTE_COLORS,
    DEFAULT_SWEEP_COLORS,
    METHODS,
    METRIC_DECIMALS,
    METRIC_FIELDS,
    STDIO,
)

if TYPE_CHECKING:
    from kquant.settings import FitOptions


@click.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant compare photo.jpg -k 64
  kquant compare photo.jpg -k 16 --methods kmeans,random --side-by-side cmp.png
  kquant compare photo.jpg --save-dir results/ --json""",
)
@image_argument
@colors_option()
@option(
    COLORS,
    "--methods",
    default=",".join(METHODS),
    show_default=True,
    help=f"Comma-separated methods to run: {', '.join(METHODS)}.",
)
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
    "--save-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep each result as <stem>-<method>-k<K>.png in this folder.",
)
@option(
    OUTPUT,
    "--zoom",
    is_flag=True,
    help="With --side-by-side: add the crop where the methods differ most, magnified.",
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
    save_dir: Path | None,
    zoom: bool,
    html: Path | None,
    repeat: int,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Run several methods on IMAGE with the same k and seed, and compare them.

    Prints one row per method: colors, MSE, PSNR, max error, the --metrics asked
    for, size of the indexed PNG, and seconds (fit and map). The classic question,
    whether k-means is worth it over a random codebook, answered on your own image.
    """
    import json

    from kquant.comparison import check_methods, compare_methods, side_by_side
    from kquant.images import save_quantized, write_atomically
    from kquant.written import Written, check_files

    names = [m.strip() for m in methods.split(",") if m.strip()]
    with library_errors(image):
        check_methods(names)
        saved = [save_dir / f"{_stem(image)}-{name}-k{k}.png" for name in names] if save_dir else []
        check_files([*(Written(path, "--save-dir") for path in saved),
                     *_flagged(("--side-by-side", sheet), ("--html", html))], [image],
                    overwrite=overwrite)  # fmt: skip
        sheet_fmt = None if sheet is None else picture_format(sheet, "sheet")
        pixels = read_image(image, max_pixels)
        results = compare_methods(
            pixels,
            k,
            names,
            fit,
            dither=dither,
            dither_strength=dither_strength,
            metrics=metrics,
            repeat=repeat,
        )
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            for r, path in zip(results, saved, strict=True):
                q = r.quantized
                save_quantized(path, q.palette,
                               q.indices, transparent_index=q.transparent_index,
                               overwrite=overwrite)  # fmt: skip
        if sheet is not None:
            size = None if str(image) == STDIO else image.stat().st_size
            picture = side_by_side(pixels, results, k, original_bytes=size, zoom=zoom)
            write_atomically(sheet, lambda fh: picture.save(fh, format=sheet_fmt),
                             overwrite=overwrite)  # fmt: skip
        rows = [{"input": str(image), **r.row(k)} for r in results]
        if html is not None:
            page = _compare_page(image, pixels, results, rows, k, html).encode("utf-8")
            write_atomically(html, lambda fh: fh.write(page), overwrite=overwrite)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    extra = [(METRIC_FIELDS[name], name) for name in metrics]
    click.echo(f"{'method':<10} {'colors':>6} {'MSE':>9} {'PSNR dB':>8} {'max err':>7} "
               + "".join(f" {label:>11}" for _, label in extra)
               + f" {'bytes':>10} {'seconds':>8}")  # fmt: skip
    for row in rows:
        psnr = "lossless" if row["psnr"] is None else f"{row['psnr']:.2f}"
        measured = "".join(f" {row[key]:>11.{METRIC_DECIMALS[key]}f}" for key, _ in extra)
        click.echo(f"{row['method']:<10} {row['colors']:>6} {row['mse']:>9.2f} {psnr:>8} "
                   f"{row['max_error']:>7}{measured} {row['bytes']:>10,} "
                   f"{row['seconds']:>8.2f}")  # fmt: skip
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
    help="Draw the palette as bands as wide as each color's share (PNG).",
)
@option(
    OUTPUT,
    "--export",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the palette as GIMP .gpl, .json or a .txt hex list, by suffix.",
)
@force_option
@json_option
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
) -> None:
    """Fit a K-color palette to IMAGE and list it by share: hex, RGB, share %.

    The palette is the one `compress` would write with the same options (of an
    animation, fitted on all its frames); export it to reuse it with
    `compress --palette`. With several images, one palette is
    fitted over all of them (their colors counted together; --weight equal gives
    each image the same weight whatever its size): the palette that
    `compress --shared-palette` writes for them.
    """
    import json

    from kquant.images import write_atomically
    from kquant.palettes import draw_swatch, palette_shares, read_colors, to_hex, write_palette
    from kquant.quantizer import quantize
    from kquant.written import check_files

    with library_errors(images[0] if len(images) == 1 else f"{len(images)} images"):
        check_files(_flagged(("--export", export), ("--swatch", swatch)), images,
                    overwrite=overwrite)  # fmt: skip
        swatch_fmt = None if swatch is None else picture_format(swatch, "swatch")
        with library_errors("--keep-color"):
            keep = read_colors(keep_colors, max_pixels=max_pixels) if keep_colors else None
        if len(images) == 1 and not _animated(images[0]):
            q = quantize(read_image(images[0], max_pixels), k, options=fit, keep=keep)
            colors, shares = palette_shares(q)
        else:
            from kquant.shared import shared_palette

            if any(str(image) == STDIO for image in images):
                raise click.UsageError("- (standard input) takes one image only")
            fitted = shared_palette(images, k, fit, keep=keep, weight=weight, max_pixels=max_pixels)
            colors, shares = fitted.palette, fitted.shares
            show_warnings(fitted.warnings)
        if export is not None:
            text = write_palette(export, colors, shares).encode()
            write_atomically(export, lambda fh: fh.write(text), overwrite=overwrite)
        if swatch is not None:
            picture = draw_swatch(colors, shares)
            write_atomically(swatch, lambda fh: picture.save(fh, format=swatch_fmt),
                             overwrite=overwrite)  # fmt: skip
    source = str(images[0]) if len(images) == 1 else [str(image) for image in images]
    for color, share in zip(colors, shares, strict=True):
        rgb = [int(v) for v in color[:3]]
        if as_json:
            row = {"input": source, "hex": to_hex(color), "rgb": rgb, "share": float(share)}
            click.echo(json.dumps(row))
        else:
            click.echo(f"{to_hex(color)}  {rgb[0]:3d} {rgb[1]:3d} {rgb[2]:3d}  {100 * share:6.2f}%")


@click.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant sweep photo.jpg -k 2..256
  kquant sweep photo.jpg -k 4,8,16,32 --target-psnr 35 --json
  kquant sweep photo.jpg -k 2..128 --plot curves.png""",
)
@image_argument
@option(
    COLORS,
    "-k",
    "--colors",
    "ks",
    default=DEFAULT_SWEEP_COLORS,
    show_default=True,
    help="k to try: a list (2,4,8) or a range (2..256, doubling).",
)
@fit_options
@dither_options
@option(
    REPORTING,
    "--metric-sample",
    type=int,
    default=DEFAULT_METRIC_SAMPLE,
    show_default=True,
    help="Pixels the silhouette and Calinski-Harabasz scores use (silhouette is quadratic in it).",
)
@target_psnr_option("Also suggest the smallest k reaching this PSNR.")
@option(
    OUTPUT,
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Draw the curves against k to this PNG (needs pip install 'kquant[plot]').",
)
@json_option
@option(REPORTING, "--csv", "as_csv", is_flag=True, help="Print the rows as CSV.")
@force_option
def sweep(
    image: Path,
    ks: str,
    fit: FitOptions,
    max_pixels: int | None,
    dither: str,
    dither_strength: float,
    metric_sample: int,
    target_psnr: float | None,
    plot: Path | None,
    as_json: bool,
    as_csv: bool,
    overwrite: bool,
) -> None:
    """Quantize IMAGE at several k and measure each, to choose k.

    One row per k: inertia (squared RGB error of the undithered mapping, on every
    pixel), silhouette and Calinski-Harabasz scores (on one seeded pixel sample,
    whose size is printed), then MSE, PSNR and PNG bytes of the image compress
    would write (dithered unless --dither none), seconds. Then a suggested k by
    three rules: the elbow of the inertia curve, the silhouette maximum, and with
    --target-psnr the smallest k that reaches it (suggestions go to stderr).
    """
    import csv
    import json

    from tqdm import tqdm

    from kquant.sweep import check_sweep, parse_ks, suggest
    from kquant.sweep import sweep as run_sweep
    from kquant.written import check_files

    if plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise click.ClickException(
                "--plot needs matplotlib: pip install 'kquant[plot]' (or matplotlib)"
            ) from None
    with library_errors(image):
        k_list = parse_ks(ks)
        check_sweep(metric_sample=metric_sample, target_psnr=target_psnr)
        check_files(_flagged(("--plot", plot)), [image], overwrite=overwrite)
        if plot is not None:
            from kquant.plots import plot_format

            plot_fmt = plot_format(plot)
        pixels = read_image(image, max_pixels)
        with tqdm(total=len(k_list), file=sys.stderr, disable=None, leave=False) as bar:

            def progress(k: int) -> None:
                bar.set_description_str(f"k={k}")
                if bar.n < k_list.index(k):
                    bar.update()

            rows = run_sweep(pixels, k_list, options=fit, dither=dither,
                             dither_strength=dither_strength, metric_sample=metric_sample,
                             progress=progress)  # fmt: skip
        if plot is not None:
            from kquant.images import write_atomically
            from kquant.plots import plot_sweep, save_figure

            figure = plot_sweep(rows, suggest(rows, target_psnr), title=_stem(image),
                                target_psnr=target_psnr)  # fmt: skip
            write_atomically(plot, lambda fh: save_figure(figure, fh, plot_fmt),
                             overwrite=overwrite)  # fmt: skip
    dicts = [{"input": str(image), **row.to_dict()} for row in rows]
    tips = suggest(rows, target_psnr)
    if as_json:
        for d in dicts:
            click.echo(json.dumps(d))
        click.echo(json.dumps({"input": str(image), "suggested": tips,
                               "metric_sample": rows[0].metric_sample}))  # fmt: skip
    elif as_csv:
        writer = csv.DictWriter(click.get_text_stream("stdout"), fieldnames=list(dicts[0]))
        writer.writeheader()
        writer.writerows(dicts)
    else:
        click.echo(f"{'k':>5} {'colors':>6} {'inertia':>14} {'MSE':>9} {'PSNR dB':>8} "
                   f"{'silhouette':>10} {'CH':>12} {'bytes':>10} {'seconds':>8}")  # fmt: skip
        for r in rows:
            psnr = "lossless" if r.psnr is None else f"{r.psnr:.2f}"
            sil = "-" if r.silhouette is None else f"{r.silhouette:.3f}"
            ch = "-" if r.calinski_harabasz is None else f"{r.calinski_harabasz:.0f}"
            click.echo(f"{r.k:>5} {r.colors:>6} {r.inertia:>14.0f} {r.mse:>9.2f} {psnr:>8} "
                       f"{sil:>10} {ch:>12} {r.bytes:>10,} {r.seconds:>8.2f}")  # fmt: skip
    click.echo(f"silhouette and Calinski-Harabasz on {rows[0].metric_sample} sampled pixels",
               err=True)  # fmt: skip
    click.echo(f"suggested k: elbow of inertia -> {tips['elbow']}; "
               f"highest silhouette -> {tips['silhouette']}", err=True)  # fmt: skip
    if target_psnr is not None:
        found = tips["target_psnr"]
        click.echo(
            f"smallest k reaching {target_psnr:g} dB -> "
            + (str(found) if found is not None else "none of those tried"),
            err=True,
        )


def picture_format(path: Path, param: str) -> str:
    """The Pillow format of a picture kquant draws (``--swatch``, ``--side-by-side``),
    from its suffix, as for images (:func:`kquant.images.format_for`); refused
    before any work otherwise."""
    from kquant.errors import UsageError
    from kquant.images import format_for

    try:
        return format_for(path)
    except UsageError as exc:
        raise UsageError(str(exc), params=(param,)) from None


def read_image(image: Path, max_pixels: int | None):
    """The pixels of the IMAGE argument, (H, W, 3|4) uint8; ``-`` reads standard
    input. Of an animation, the first frame, with a note on stderr."""
    from kquant.images import load_image

    if str(image) == STDIO:
        import io

        if sys.stdin is None:
            raise click.ClickException("standard input is closed: nothing to read")
        source = io.BytesIO(sys.stdin.buffer.read())
        loaded = load_image(source, max_pixels=max_pixels, name=STDIO)
    else:
        loaded = load_image(image, max_pixels=max_pixels)
    if loaded.frames > 1:
        click.echo(f"kquant: note: {image}: the first of its {loaded.frames} frames is used",
                   err=True)  # fmt: skip
    return loaded.pixels


def _animated(image: Path) -> bool:
    """Whether IMAGE is an animation (its palette is then fitted on every frame)."""
    from kquant.animation import count_frames

    return str(image) != STDIO and count_frames(image) > 1


def _compare_page(image, pixels, results, rows: list[dict], k: int, page: Path) -> str:
    """The HTML page of a comparison (:mod:`kquant.html`): a row per method, each
    result against the original; results kept with --save-dir are not linked."""
    from kquant.colors import color_histogram
    from kquant.html import Entry, render_page, thumbnail

    original = thumbnail(pixels)
    colors_in = color_histogram(pixels.reshape(-1, pixels.shape[2])).n_colors
    bytes_in = None if str(image) == STDIO else image.stat().st_size
    entries = []
    for r, row in zip(results, rows, strict=True):
        values = {"input": f"{row['method']}, k={k}", "status": "ok", "colors_in": colors_in,
                  "colors_out": row["colors"], "psnr": row["psnr"],
                  "delta_e": row.get("delta_e"), "bytes_in": bytes_in,
                  "bytes_out": row["bytes"]}  # fmt: skip
        entries.append(Entry(values, before=original, after=thumbnail(r.quantized.to_array())))
    return render_page(entries, f"kquant compare {image}: k={k}", noun="results")


def _flagged(*files: tuple[str, Path | None]) -> list:
    """:class:`kquant.written.Written` files of the options given (flag, path)."""
    from kquant.written import Written

    return [Written(path, flag) for flag, path in files if path is not None]


def _stem(image: Path) -> str:
    """The name files made from IMAGE start with (``stdin`` for ``-``)."""
    return "stdin" if str(image) == STDIO else image.stem
