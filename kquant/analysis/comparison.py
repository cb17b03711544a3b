"""Several methods on one image, side by side: the numbers and the pictures.

:func:`compare_methods` quantizes one image with each method (same k, seed and
sample) and measures each result the way ``compress`` does, plus the size of the
indexed PNG it would write. :func:`side_by_side` draws the original and the
results in one labelled picture.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image, ImageDraw

from kquant.core.codebook import finish_import
from kquant.core.metrics import perceptual
from kquant.core.quantizer import Quantized, prepare, quantize
from kquant.defaults import (
    DEFAULT_DITHER,
    DEFAULT_DITHER_STRENGTH,
    DEFAULT_SHEET_WIDTH,
    MAX_SEED,
)
from kquant.errors import UsageError
from kquant.io.images import save_quantized
from kquant.settings import FitOptions, Method, check_methods

__all__ = [
    "MethodResult",
    "SheetLayout",
    "compare_methods",
    "sheet_layout",
    "side_by_side",
]


@dataclass(frozen=True)
class MethodResult:
    """One method's result on the image.

    Attributes
    ----------
    method : str
    quantized : Quantized
    png_bytes : int
        Size of the indexed PNG of the result.
    seconds : float
        Wall time of the quantization (fit and map), not of the PNG encoding.
    measures : dict
        Perceptual measures by report field (``delta_e``, ``ssim``, ...), None
        where not asked for (:func:`kquant.core.metrics.perceptual`).
    seeds : tuple of int
        The seeds the method ran with (``compare_methods(repeat=N)``); the first
        one's result is ``quantized``.
    mses : tuple of float
        The MSE of each seed's result.
    settings : dict
        ``space``, ``dither``, ``dither_strength`` and ``seed`` (the first) it ran with.
    """

    method: str
    quantized: Quantized
    png_bytes: int
    seconds: float
    measures: dict[str, float | None] = dataclasses.field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    mses: tuple[float, ...] = ()
    settings: dict[str, object] = dataclasses.field(default_factory=dict)

    def spread(self) -> dict[str, float | None]:
        """Mean, standard deviation (n - 1; 0 for one run), min and max of MSE and
        PSNR over the seeds; PSNR ones None if a run was lossless."""
        mses = np.array(self.mses or (self.quantized.distortion.mse,), dtype=np.float64)
        out: dict[str, float | None] = {}
        psnrs = None if (mses <= 0).any() else 10 * np.log10(255.0**2 / mses)
        for name, values in (("mse", mses), ("psnr", psnrs)):
            for stat, f in (("mean", np.mean), ("std", _std), ("min", np.min), ("max", np.max)):
                out[f"{name}_{stat}"] = None if values is None else float(f(values))
        return out

    def row(self, k: int, bytes_in: int | None = None) -> dict:
        """The result as a row, with ``compress``'s names and order for what it also
        reports (``colors_out``, ``bytes_out``, ``seconds`` as an object of fit, map
        and total, ...); ``bytes_in`` is the input file's size, if known."""
        d = self.quantized.distortion
        stages = self.quantized.seconds
        seconds = {"fit": stages.get("fit"), "map": stages.get("map"), "total": self.seconds}
        return {
            "method": self.method,
            "space": self.settings.get("space"),
            "dither": self.settings.get("dither"),
            "dither_strength": self.settings.get("dither_strength"),
            "k": k,
            "seed": self.settings.get("seed"),
            "colors_in": self.quantized.colors_in,
            "colors_out": self.quantized.colors_out,
            "mse": d.mse,
            "psnr": d.psnr,
            "max_error": d.max_error,
            **self.measures,
            "bytes_in": bytes_in,
            "bytes_out": self.png_bytes,
            "seconds": seconds,
            "repeat": max(1, len(self.seeds)),
            "seeds": list(self.seeds),
            **self.spread(),
        }


def _std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else 0.0


def compare_methods(
    pixels: np.ndarray,
    k: int,
    methods: list[str],
    options: FitOptions | None = None,
    *,
    dither: str = DEFAULT_DITHER,
    dither_strength: float = DEFAULT_DITHER_STRENGTH,
    metrics: Sequence[str] = (),
    repeat: int = 1,
) -> list[MethodResult]:
    """Quantize ``pixels`` with each of ``methods``.

    Parameters
    ----------
    pixels : (H, W, 3|4) uint8 ndarray
    k : int
    methods : list of str
        Names from :data:`kquant.defaults.METHODS`.
    options : FitOptions or None
        Shared settings (seed, sample, ...); ``method`` is replaced by each method.
    dither, dither_strength
        As for :func:`kquant.quantize`, for every method.
    metrics : sequence of str
        Perceptual measures to compute (:func:`kquant.core.metrics.perceptual`).
    repeat : int
        Run each method with this many seeds (``options.seed``, +1, ..., wrapping at
        2**32), for the spread of MSE and PSNR (:meth:`MethodResult.spread`); the
        pictures, sizes, measures and seconds are the first seed's.

    Returns
    -------
    list of MethodResult, in the order of ``methods``
    """
    check_methods(methods)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise UsageError(f"repeat must be a whole number >= 1, got {repeat!r}", params=("repeat",))
    options = options or FitOptions()
    seeds = tuple((options.seed + i) % (MAX_SEED + 1) for i in range(repeat))
    results = []
    prepared = prepare(pixels)  # colors counted once for every method and seed
    if any(method != "random" for method in methods):
        finish_import()  # so the first k-means method does not pay for it
    for method in methods:
        runs = []
        for seed in seeds:
            start = time.perf_counter()
            run = quantize(
                prepared,
                k,
                options=dataclasses.replace(options, method=cast("Method", method), seed=seed),
                dither=dither,
                dither_strength=dither_strength,
            )
            runs.append((run, time.perf_counter() - start))
        q, seconds = runs[0]
        measured = perceptual(pixels, q.to_array() if metrics else None, metrics)
        buffer = io.BytesIO()
        size = save_quantized(
            buffer, q.palette, q.indices, fmt="PNG", transparent_index=q.transparent_index
        )
        measures = {name: value.value for name, value in measured.items()}
        mses = tuple(run.distortion.mse for run, _ in runs)
        settings = {"space": options.space, "dither": dither,
                    "dither_strength": dither_strength, "seed": seeds[0]}  # fmt: skip
        results.append(MethodResult(method, q, size, seconds, measures, seeds, mses, settings))
    return results


def sheet_columns(panels: int) -> int:
    """Columns of a sheet of ``panels`` panels: the squarest grid, at most 4 wide."""
    return min(4, int(np.ceil(np.sqrt(panels))))


@dataclass(frozen=True)
class SheetLayout:
    """Where a comparison sheet puts things (pixels).

    Attributes
    ----------
    columns, rows : int
        Grid of full-size panels; a zoom adds as many rows of zoomed panels.
    width, height : int
        Each panel's picture (the image's size).
    label : int
        Height of the label band above each picture.
    gap : int
        Space between cells and around the sheet.
    font : int
        Size of the labels' font, px (1/26 of the panel's width, 12 to 48).
    """

    columns: int
    rows: int
    width: int
    height: int
    label: int
    gap: int
    font: int

    def cell(self, index: int) -> tuple[int, int]:
        """Top-left corner of cell ``index`` (label band first, then the picture)."""
        row, col = divmod(index, self.columns)
        return (self.gap + col * (self.width + self.gap),
                self.gap + row * (self.label + self.height + self.gap))  # fmt: skip


def sheet_layout(panels: int, width: int, height: int, zoom: bool = False) -> SheetLayout:
    """The layout of a sheet of ``panels`` pictures of ``width`` x ``height``: labels
    sized to the panel (two lines of about 1/26 of its width, 12 to 48 px)."""
    columns = sheet_columns(panels)
    rows = int(np.ceil(panels / columns)) * (2 if zoom else 1)
    size = max(12, min(48, width // 26))
    return SheetLayout(columns, rows, width, height, label=int(2.6 * size),
                       gap=max(6, size // 2), font=size)  # fmt: skip


def side_by_side(
    pixels: np.ndarray,
    results: list[MethodResult],
    k: int,
    *,
    original_bytes: int | None = None,
    zoom: bool = False,
    width: int | None = DEFAULT_SHEET_WIDTH,
) -> Image.Image:
    """The original and each result in a grid, each labelled, readable when scaled.

    Panels are the image's size, or smaller so that the sheet is at most ``width``
    pixels wide (a screen's; Lanczos-resampled, never enlarged), in the squarest grid
    (2 x 2 for the original and three methods); above each, a label in Pillow's
    scalable font sized to the panel: the method and k, then PSNR and the indexed
    PNG's bytes (for the original, its colors and ``original_bytes``). Transparent
    pixels show a checkerboard. With ``zoom``, a second grid shows the same crop of
    every full-resolution result, magnified an integer number of times (at least 2)
    with nearest-neighbour pixels to fill a panel: the window where the results differ
    most from the original (summed squared error of all methods), so banding and
    noise can be seen at any image size; a frame marks it on the full panels.

    Parameters
    ----------
    pixels : (H, W, 3|4) uint8 ndarray
        The original.
    results : list of MethodResult
    k : int
    original_bytes : int or None
    zoom : bool
    width : int or None
        Most pixels the sheet is wide; None: panels at the image's size.

    Returns
    -------
    PIL.Image.Image
        RGB, laid out as :func:`sheet_layout` says.
    """
    from kquant.io.drawing import on_checkerboard

    h, w = pixels.shape[:2]
    panels = _panels(pixels, results, k, original_bytes)
    pw, ph = _panel_size(w, h, len(panels), width)
    layout = sheet_layout(len(panels), pw, ph, zoom)
    cells = layout.rows * layout.columns
    sheet = Image.new(
        "RGB",
        (layout.gap + layout.columns * (pw + layout.gap),
         layout.gap + layout.rows * (layout.label + ph + layout.gap)),
        "white",
    )  # fmt: skip
    draw = ImageDraw.Draw(sheet)
    # the zoom: a crop magnified `factor` times fills a panel (x4 of a quarter when
    # the panels are full size, at least x2 when they are scaled down)
    factor = max(2, round(4 * pw / w))
    bw, bh = max(1, min(w, pw // factor)), max(1, min(h, ph // factor))
    box = _zoom_box(pixels, [p for _, p in panels[1:]], bw, bh) if zoom else None
    per_grid = cells // 2 if zoom else cells
    for i, ((title, detail), array) in enumerate(panels):
        full = on_checkerboard(array)
        if (pw, ph) != (w, h):
            full = full.resize((pw, ph), Image.Resampling.LANCZOS, reducing_gap=3.0)
        pictures = [(i, full, title)]
        if box is not None:
            x0, y0, x1, y1 = box
            crop = on_checkerboard(array[y0:y1, x0:x1], max(2, (x1 - x0) // 24))
            pictures.append((per_grid + i, crop.resize((bw * factor, bh * factor),
                                                       Image.Resampling.NEAREST),
                             f"{title}, zoomed x{factor}"))  # fmt: skip
        for cell, picture, name in pictures:
            x, y = layout.cell(cell)
            sheet.paste(picture, (x, y + layout.label))
            _label(draw, (x, y), (name, detail), pw, layout.font)
            if box is not None and cell == i:  # where the zoomed crop comes from
                x0, y0, x1, y1 = (round(v * pw / w) for v in box)
                top = y + layout.label
                draw.rectangle((x + x0, top + y0, x + max(x0, x1 - 1), top + max(y0, y1 - 1)),
                               outline=(230, 30, 30), width=max(1, pw // 320))  # fmt: skip
    return sheet


def _panels(
    pixels: np.ndarray, results: list[MethodResult], k: int, original_bytes: int | None
) -> list[tuple[tuple[str, str], np.ndarray]]:
    """Each panel's title, detail line and (H, W, C) uint8 picture: the original,
    then each result."""
    from kquant.core.colors import color_histogram

    n_colors = color_histogram(pixels.reshape(-1, pixels.shape[2])).n_colors
    first = f"original, {n_colors:,} colors"
    panels = [(("original", first if original_bytes is None
                else f"{n_colors:,} colors, {original_bytes:,} bytes"), pixels)]  # fmt: skip
    for r in results:
        d = r.quantized.distortion
        quality = "lossless" if d.psnr is None else f"PSNR {d.psnr:.2f} dB"
        panels.append(((f"{r.method}, k={k}", f"{quality}, {r.png_bytes:,} bytes"),
                       r.quantized.to_array()))  # fmt: skip
    return panels


def _label(
    draw: ImageDraw.ImageDraw, at: tuple[int, int], lines: tuple[str, str], width: int, size: int
) -> None:
    """Write a panel's two label lines (black, then gray) at ``at``, each fitted to
    ``width`` pixels from a font of ``size``."""
    from kquant.io.drawing import fit_text

    x, y = at
    fills: tuple[str | tuple[int, ...], ...] = ("black", (60, 60, 60))
    for line, (text, fill) in enumerate(zip(lines, fills, strict=True)):
        text, face = fit_text(draw, text, width, size)
        draw.text((x, y + line * int(1.25 * size)), text, fill=fill, font=face)


def _panel_size(w: int, h: int, panels: int, width: int | None) -> tuple[int, int]:
    """The size of each panel of a sheet at most ``width`` wide: the image's, or scaled
    down (never up) to fit, at least 16 px wide (gaps of at most 24 px)."""
    if width is None:
        return w, h
    columns = sheet_columns(panels)
    pw = min(w, max(16, (width - 24 * (columns + 1)) // columns))
    return pw, max(1, round(h * pw / w))


#: Above this many pixels the zoom window is searched on blocks of pixels (exact below).
ZOOM_EXACT_PIXELS = 4_000_000


def _zoom_box(
    original: np.ndarray, results: list[np.ndarray], bw: int, bh: int
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the ``bw`` x ``bh`` window where the results' summed
    squared error against the original is largest (ties: top-left first).

    Pixel by pixel up to :data:`ZOOM_EXACT_PIXELS`; above, on the sums of blocks of
    ``s`` x ``s`` pixels (1/8 of the window's shorter side), the window moving a
    block at a time, a band of rows at a time (about 10 MB at 20 MP; the float copies
    of a whole-image search took over 1 GB: a 20 MP sheet peaked at 1.78 GB, now
    672 MB).
    """
    h, w = original.shape[:2]
    s = 1 if h * w <= ZOOM_EXACT_PIXELS else max(1, min(bw, bh) // 8)
    rows, cols = h // s, w // s
    err = np.zeros((rows, cols))
    band = max(1, ZOOM_EXACT_PIXELS // 4 // (w * s))  # block rows a step
    for r0 in range(0, rows, band):
        r1 = min(rows, r0 + band)
        window = np.s_[r0 * s : r1 * s, : cols * s, :3]
        for result in results:
            diff = original[window].astype(np.int32) - result[window]
            sq = np.einsum("ijk,ijk->ij", diff, diff)
            err[r0:r1] += sq.reshape(r1 - r0, s, cols, s).sum(axis=(1, 3))
    kh, kw = max(1, min(rows, bh // s)), max(1, min(cols, bw // s))
    total = np.zeros((rows + 1, cols + 1))
    total[1:, 1:] = err.cumsum(axis=0).cumsum(axis=1)
    sums = total[kh:, kw:] - total[:-kh, kw:] - total[kh:, :-kw] + total[:-kh, :-kw]
    y0, x0 = (int(v) * s for v in np.unravel_index(int(np.argmax(sums)), sums.shape))
    x0, y0 = min(x0, w - bw), min(y0, h - bh)
    return x0, y0, x0 + bw, y0 + bh


def saved_paths(
    folder: Path, image_name: str, names: Sequence[str], k: int, marks: tuple[str, ...]
) -> list[Path]:
    """Where ``compare --save-dir`` keeps each method's result: the name compress
    gives it (:func:`kquant.run.naming.default_template`) in ``folder``."""
    from kquant.run.naming import default_template, render

    named = Path(image_name + ".png")
    return [folder / render(default_template(name, marks), named, k=k, method=name)
            for name in names]  # fmt: skip


def comparison_rows(
    image: str, results: Sequence[MethodResult], k: int, size: int | None
) -> list[dict]:
    """A row per method, with compress's keys (:meth:`MethodResult.row`)."""
    return [{"input": image, **r.row(k, bytes_in=size)} for r in results]


def write_comparison(
    pixels: np.ndarray,
    results: list[MethodResult],
    k: int,
    rows: list[dict],
    *,
    title: str,
    saved: Sequence[Path] = (),
    sheet: tuple[Path, str] | None = None,
    zoom: bool = False,
    width: int | None = None,
    html: Path | None = None,
    overwrite: bool = False,
) -> None:
    """The files of a comparison: each result as compress writes it (``saved``, one
    path per method), the sheet (``sheet``: path and Pillow format;
    :func:`side_by_side`) and the HTML page (:func:`kquant.analysis.html.comparison_page`),
    each written atomically."""
    from kquant.analysis.html import comparison_page
    from kquant.io.images import write_atomically

    if saved:
        saved[0].parent.mkdir(parents=True, exist_ok=True)
    for r, path in zip(results, saved, strict=False):
        q = r.quantized
        save_quantized(path, q.palette, q.indices, transparent_index=q.transparent_index,
                       overwrite=overwrite)  # fmt: skip
    if sheet is not None:
        size = rows[0]["bytes_in"] if rows else None
        picture = side_by_side(pixels, results, k, original_bytes=size, zoom=zoom, width=width)
        write_atomically(sheet[0], lambda fh: picture.save(fh, format=sheet[1]),
                         overwrite=overwrite)  # fmt: skip
    if html is not None:
        page = comparison_page(title, pixels, results, rows, k).encode("utf-8")
        write_atomically(html, lambda fh: fh.write(page), overwrite=overwrite)
