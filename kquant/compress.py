"""File to file: load, quantize, save, and report what was done.

:func:`compress_file` is what ``kquant compress`` runs for each input; it is plain
library code (no click), so scripts can call it too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from kquant.codebook import FitOptions, start_import
from kquant.colors import color_histogram
from kquant.defaults import (
    DEFAULT_COLORS,
    DEFAULT_MAX_PIXELS,
    INDEXED_LIMIT,
    MAX_COLORS,
    METRIC_LABELS,
    METRICS,
)
from kquant.errors import ImageReadError, UsageError
from kquant.images import (
    check_writable,
    format_for,
    load_image,
    save_quantized,
)
from kquant.metrics import image_distortion, perceptual
from kquant.quantizer import check_dither, quantize, quantize_to_target

__all__ = ["Report", "compress_file", "default_output"]

#: Alpha at or above this is opaque, below it transparent, in formats with 1-bit alpha.
GIF_ALPHA_THRESHOLD = 128


@dataclass
class Report:
    """What :func:`compress_file` did to one image; the keys of ``--json``.

    See the README for the meaning of each field.
    """

    input: str
    output: str
    format: str
    method: str
    space: str
    dither: str
    dither_strength: float
    k: int
    seed: int
    sample: int
    width: int
    height: int
    frames: int
    grayscale: bool
    alpha: bool
    colors_in: int
    colors_out: int
    mse: float
    psnr: float | None
    max_error: int
    delta_e: float | None
    ssim: float | None
    delta_e_blur: float | None
    ssim_blur: float | None
    bytes_in: int
    bytes_out: int
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)
    written: bool = True
    target_met: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_output(input_path: str | os.PathLike[str], k: int) -> Path:
    """``<folder>/<stem>-k<K>.png`` beside the input."""
    p = Path(input_path)
    return p.with_name(f"{p.stem}-k{k}.png")


def compress_file(
    input_path: str | os.PathLike[str] | IO[bytes],
    output_path: str | os.PathLike[str] | IO[bytes] | None = None,
    *,
    k: int = DEFAULT_COLORS,
    options: FitOptions | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    overwrite: bool = False,
    skip_if_larger: bool = False,
    progress: Callable[[str], None] | None = None,
    target_psnr: float | None = None,
    max_mse: float | None = None,
    palette: np.ndarray | None = None,
    dither: str = "none",
    dither_strength: float = 1.0,
    metrics: Sequence[str] = (),
) -> Report:
    """Quantize one image file into another.

    Every check that needs no decoding (output format, output equal to input,
    output folder, existing output) runs before the image is read, so a mistake
    costs nothing. The output is written atomically (see
    :func:`kquant.images.save_quantized`).

    Parameters
    ----------
    input_path : path-like or binary file object
        A file object (e.g. ``io.BytesIO`` of stdin) is named ``-`` in the report.
    output_path : path-like, binary file object, or None
        Default: :func:`default_output`. The suffix picks the format; a file object
        (e.g. ``sys.stdout.buffer``) gets a PNG, written once complete.
    k : int
        Number of colors, see :func:`kquant.quantizer.quantize`.
    options : FitOptions or None
        How to fit the palette; default ``FitOptions()``.
    max_pixels : int or None
        Decompression-bomb limit, see :func:`kquant.images.load_image`.
    overwrite : bool
        Replace an existing output (the input included).
    dither : {"none", "floyd-steinberg"}
    dither_strength : float in [0, 1]
        See :func:`kquant.quantize`.
    metrics : sequence of {"deltae", "ssim", "deltae-blur", "ssim-blur"}
        Perceptual measures of the image as written to add to the report
        (:func:`kquant.metrics.mean_delta_e`, :func:`kquant.metrics.ssim`; ``-blur``:
        of both images blurred, as seen from a distance); the others are None.
    palette : (P, 3) uint8 array or None
        Map onto these colors instead of fitting (see :func:`kquant.quantize`).
    target_psnr, max_mse : float or None
        A quality target instead of a fixed k: the smallest k up to ``k`` that
        reaches it is used (:func:`kquant.quantizer.quantize_to_target`); the
        report's ``k`` is the chosen one and ``target_met`` says whether it made it.
    progress : callable or None
        Called with the name of each stage as it starts: ``"load"``, ``"fit"``,
        ``"map"``, ``"save"`` (for a progress display).
    skip_if_larger : bool
        Write nothing when the result is not smaller than the input file; the
        report then has ``written`` false and says why in its notes.

    Returns
    -------
    Report

    Raises
    ------
    kquant.errors.KquantError
        With a one-line message naming the file and the problem.
    """
    t_start = time.perf_counter()
    in_stream = input_path if hasattr(input_path, "read") else None
    out_stream = output_path if hasattr(output_path, "write") else None
    if in_stream is None:
        input_path = Path(input_path)  # type: ignore[arg-type]
    elif output_path is None:
        raise UsageError("an image read from a stream needs an output path or stream")
    if out_stream is not None:
        output, fmt = Path("-"), "PNG"
    else:
        output = Path(output_path) if output_path is not None else default_output(input_path, k)
        fmt = format_for(output)
    if not 1 <= k <= MAX_COLORS:
        raise UsageError(f"k must be between 1 and {MAX_COLORS}, got {k}")
    check_dither(dither, dither_strength)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise UsageError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    if fmt == "GIF" and k > INDEXED_LIMIT:
        raise UsageError(f"{output}: GIF holds at most {INDEXED_LIMIT} colors, not {k}")
    if in_stream is None and not input_path.exists():
        raise ImageReadError(f"{input_path}: no such file")
    if out_stream is None:
        same = in_stream is None and output.exists() and os.path.samefile(input_path, output)
        if same and not overwrite:
            raise UsageError(f"{output}: output is the input file (use --force to replace it)")
        check_writable(output, overwrite=overwrite)

    options = options or FitOptions()
    if options.method != "random":
        start_import()  # overlaps scikit-learn's import with decoding
    report_stage = progress or (lambda stage: None)
    report_stage("load")
    image = load_image(input_path, max_pixels=max_pixels, name="-")
    input_path = image.path
    pixels = image.pixels
    notes: list[str] = []
    if image.frames > 1:
        notes.append(f"only the first of {image.frames} frames was quantized")
    if pixels.shape[2] == 4 and fmt == "JPEG":
        raise UsageError(
            f"{output}: JPEG cannot store the transparency of {input_path}; "
            "write .png, .webp, .gif or .tif"
        )
    if (
        pixels.shape[2] == 4
        and fmt == "GIF"
        and np.any((pixels[..., 3] > 0) & (pixels[..., 3] < 255))
    ):
        pixels = pixels.copy()
        pixels[..., 3] = np.where(pixels[..., 3] >= GIF_ALPHA_THRESHOLD, 255, 0)
        notes.append(
            f"GIF has 1-bit transparency: alpha below {GIF_ALPHA_THRESHOLD} made transparent"
        )
    t_loaded = time.perf_counter()

    strength = dither_strength if dither != "none" else 0.0
    draw = {"dither": dither, "dither_strength": strength}
    target_met = None
    if target_psnr is None and max_mse is None:
        result = quantize(pixels, k, options=options, palette=palette, progress=progress, **draw)
        fit_seconds = result.seconds["fit"]
    else:
        report_stage("fit")
        max_k = k
        k, result, target_met = quantize_to_target(
            pixels, max_k, target_psnr=target_psnr, max_mse=max_mse, options=options, **draw
        )
        # every k tried counts: the search is the fit
        fit_seconds = time.perf_counter() - t_loaded - result.seconds["map"]
        goal = f"PSNR {target_psnr:g} dB" if target_psnr is not None else f"MSE {max_mse:g}"
        notes.append(
            f"target {goal}: reached with k={k}" if target_met
            else f"target {goal} missed even with k={max_k}"
        )  # fmt: skip
    if palette is not None:
        notes.append(f"mapped onto the given palette of {len(palette)} colors")
    elif result.fit_pixels == 0:
        notes.append(
            f"image has only {result.colors_in} distinct colors, not more than k={k}: "
            "reproduced exactly"
        )
    elif result.colors_out < k:
        notes.append(f"palette has {result.colors_out} colors, fewer than the {k} asked")
    if palette is None and result.fit_pixels == 0:
        strength = 0.0  # reproduced exactly: no error to diffuse
    if strength > 0:
        notes.append(
            "dithered (Floyd-Steinberg"
            + (f", strength {strength:g}" if strength < 1 else "")
            + "): error measured on the dithered image"
        )

    report_stage("save")
    t_save = time.perf_counter()
    bytes_out = save_quantized(
        out_stream or output,
        result.palette,
        result.indices,
        transparent_index=result.transparent_index,
        icc_profile=image.icc_profile,
        overwrite=overwrite,
        max_bytes=image.bytes - 1 if skip_if_larger else None,
    )
    t_saved = time.perf_counter()
    written = not skip_if_larger or bytes_out < image.bytes
    if not written:
        notes.append(
            f"not written: {bytes_out:,} bytes would not be smaller than the input's "
            f"{image.bytes:,}"
        )

    distortion, colors_out = result.distortion, result.colors_out
    written_pixels = None
    if fmt == "JPEG" and written and out_stream is None:  # lossy: measure the file as written
        written_pixels = load_image(output, max_pixels=None).pixels
        distortion = image_distortion(pixels, written_pixels)
        colors_out = color_histogram(written_pixels.reshape(-1, 3)).n_colors
        notes.append("JPEG is lossy: error and colors measured on the decoded file")
    t_measure = time.perf_counter()
    if metrics and written_pixels is None:
        written_pixels = result.to_array()
    measured = perceptual(pixels, written_pixels, metrics)
    for name, value in measured.items():
        if value.sampled:
            notes.append(
                f"{METRIC_LABELS[name]} on {value.rows:,} of {value.of_rows:,} rows "
                "(evenly spaced strips)"
            )
    t_end = time.perf_counter()

    return Report(
        input=str(input_path),
        output=str(output),
        format=fmt,
        method="palette" if palette is not None else options.method,
        space=options.space,
        dither=dither if strength > 0 else "none",
        dither_strength=strength,
        k=k,
        seed=options.seed,
        sample=result.fit_pixels,
        width=image.width,
        height=image.height,
        frames=image.frames,
        grayscale=image.grayscale,
        alpha=result.has_alpha,
        colors_in=result.colors_in,
        colors_out=colors_out,
        mse=distortion.mse,
        psnr=distortion.psnr,
        max_error=distortion.max_error,
        **{field: value.value for field, value in measured.items()},
        bytes_in=image.bytes,
        bytes_out=bytes_out,
        seconds={
            "load": t_loaded - t_start,
            "fit": fit_seconds,
            "map": result.seconds["map"],
            "save": t_saved - t_save,
            **({"metrics": t_end - t_measure} if metrics else {}),
            "total": t_end - t_start,
        },
        notes=notes,
        written=written,
        target_met=target_met,
    )
