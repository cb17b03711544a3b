"""File to file: load, quantize, save, and report what was done.

:func:`compress_file` is what ``kquant compress`` runs for each input; it is plain
library code (no click), so scripts can call it too.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from kquant.animation import ANIMATED_FORMATS, count_frames, quantize_animation
from kquant.codebook import finish_import, start_import
from kquant.colors import color_histogram
from kquant.defaults import INDEXED_LIMIT, METRIC_LABELS
from kquant.errors import ImageReadError, UsageError
from kquant.images import (
    GIF_ALPHA_THRESHOLD,
    check_writable,
    format_for,
    load_image,
    one_bit_alpha,
    save_quantized,
)
from kquant.memory import release_free_memory
from kquant.metrics import image_distortion, perceptual
from kquant.naming import OutputName, default_template
from kquant.quantizer import quantize, quantize_to_target
from kquant.report import Report, StageSeconds, is_larger, larger_note
from kquant.settings import CompressSettings
from kquant.stages import Stage

__all__ = ["compress_file", "default_output"]


def default_output(
    input_path: str | os.PathLike[str], method: str, marks: tuple[str, ...] = ()
) -> OutputName:
    """The default output beside the input, as a function of k:
    ``<folder>/<stem>-k<K>.png``, with the method when it is not k-means and the
    ``marks`` of other settings (:func:`kquant.naming.default_template`)."""
    p = Path(input_path)
    return OutputName(p.parent, default_template(method, marks), p, method)


def _check_output(input_path: Path | None, output: Path, overwrite: bool) -> None:
    """Refuse an output that is the input (unless ``overwrite``), exists, or cannot be
    written."""
    same = input_path is not None and output.exists() and os.path.samefile(input_path, output)
    if same and not overwrite:
        raise UsageError(f"{output}: output is the input file (use --force to replace it)")
    check_writable(output, overwrite=overwrite)


#: Largest image (pixels) whose decoding scikit-learn's import overlaps. The import
#: adds about 100 MB; above this, it waits until the decoder's buffer is gone (a
#: 16 MP photo peaked at 246 MB with the overlap).
EARLY_IMPORT_MAX_PIXELS = 8_000_000


def compress_file(
    input_path: str | os.PathLike[str] | IO[bytes],
    output_path: str | os.PathLike[str] | IO[bytes] | OutputName | None = None,
    settings: CompressSettings | None = None,
    *,
    progress: Callable[[Stage], None] | None = None,
    **changes: Any,
) -> Report:
    """Quantize one image file into another.

    Every check that needs no decoding (settings, output format, output equal to
    input, output folder, existing output) runs before the image is read, so a
    mistake costs nothing. The output is written atomically (see
    :func:`kquant.images.save_quantized`).

    Parameters
    ----------
    input_path : path-like or binary file object
        A file object (e.g. ``io.BytesIO`` of stdin) is named ``-`` in the report.
    output_path : path-like, binary file object, callable, or None
        The suffix picks the format; a file object (e.g. ``sys.stdout.buffer``) gets a
        PNG, written once complete. A callable (such as
        :class:`kquant.naming.OutputName`) gives the path for a k: with a quality
        target it is called with the chosen k, after the search. Default:
        :func:`default_output` (``<stem>-k<K>.png`` beside the input).
    settings : CompressSettings or None
        What to do (k, fitting, palette or quality target, dithering, measures,
        limits, overwriting); default ``CompressSettings()``.
    progress : callable or None
        Called with each :class:`kquant.stages.Stage` as it starts (for a progress
        display).
    **changes
        Fields of :class:`CompressSettings` or :class:`kquant.settings.FitOptions`
        to set on ``settings`` (``k=64``, ``seed=1``, ``overwrite=True``).

    Returns
    -------
    Report
        ``k`` is ``settings.k``, the palette's size with a given palette, or the
        chosen k with a quality target (``target_met`` says whether it made it);
        ``written`` is false when ``skip_if_larger`` kept nothing.

    Raises
    ------
    kquant.errors.UsageError
        Settings that break a rule (a bad k, a palette with a quality target, both
        targets...), an output format that cannot hold the result, an output that
        is the input.
    kquant.errors.KquantError
        Otherwise, with a one-line message naming the file and the problem.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from PIL import Image
    >>> tmp = tempfile.TemporaryDirectory(); folder = pathlib.Path(tmp.name)
    >>> Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "black.png")
    >>> report = compress_file(folder / "black.png", k=4)
    >>> report.output.endswith("black-k4.png"), report.colors_out, report.mse
    (True, 1, 0.0)
    >>> compress_file(folder / "black.png", k=4, palette=[(0, 0, 0)], target_psnr=30)
    Traceback (most recent call last):
    ...
    kquant.errors.UsageError: a given palette fixes the colors: it does not go with a quality target
    >>> tmp.cleanup()
    """
    t_start = time.perf_counter()
    settings = (settings or CompressSettings()).replace(**changes)
    s, fit = settings, settings.fit
    in_stream = cast("IO[bytes]", input_path) if hasattr(input_path, "read") else None
    out_stream = cast("IO[bytes]", output_path) if hasattr(output_path, "write") else None
    path = Path("-")  # the input's name: "-" for a stream
    if in_stream is None:
        path = Path(cast("str | os.PathLike[str]", input_path))
    elif output_path is None:
        raise UsageError("an image read from a stream needs an output path or stream")
    source: Path | IO[bytes] = in_stream or path
    method = "palette" if s.palette is not None else fit.method
    k = len(s.palette) if s.palette is not None else s.k  # the k of the report and names
    if output_path is None:
        output_path = default_output(path, method, s.name_marks)
    name = cast("Callable[[int], Path]", output_path) if callable(output_path) else None
    if out_stream is not None:
        output, fmt = Path("-"), "PNG"
    else:
        output = name(k) if name is not None else Path(cast("str | os.PathLike[str]", output_path))
        fmt = format_for(output)
    if fmt == "GIF" and k > INDEXED_LIMIT:
        raise UsageError(f"{output}: GIF holds at most {INDEXED_LIMIT} colors, not {k}")
    if in_stream is None and not path.exists():
        raise ImageReadError(f"{path}: no such file")
    n_frames = count_frames(source)
    animated = n_frames > 1 and not s.first_frame
    if animated and fmt not in ANIMATED_FORMATS:
        raise UsageError(
            f"{output}: {fmt} cannot hold the {n_frames} frames of "
            f"{path}; write .gif, .webp or .png, "
            "or add --first-frame for the first frame only"
        )
    if animated and s.has_target:
        raise UsageError(
            f"{path}: quality targets take single images, "
            f"not animations ({n_frames} frames); give -k, or add --first-frame"
        )
    decided_later = name is not None and s.has_target
    if out_stream is None:
        # with a name that depends on the chosen k, only the folder can be checked now
        _check_output(None if in_stream else path, output, s.overwrite or decided_later)

    def import_early(pixels: int) -> None:
        if fit.method != "random" and pixels <= EARLY_IMPORT_MAX_PIXELS:
            start_import()  # overlaps scikit-learn's import with decoding

    report_stage = progress or (lambda stage: None)
    report_stage(Stage.LOAD)
    if animated:
        return _animation_report(source, out_stream or output, fmt, settings, t_start, progress)
    image = load_image(source, max_pixels=s.max_pixels, name="-", on_header=import_early)
    if fit.method != "random":
        start_import()  # a large image: overlaps the import with counting colors only
    path = image.path
    pixels = image.pixels
    notes: list[str] = list(image.notes)
    if image.frames > 1:
        notes.append(f"only the first of {image.frames} frames was quantized (--first-frame)")
    if pixels.shape[2] == 4 and fmt == "JPEG":
        raise UsageError(
            f"{output}: JPEG cannot store the transparency of {path}; "
            "write .png, .webp, .gif or .tif"
        )
    if fmt == "GIF":
        pixels, changed = one_bit_alpha(pixels)
    if fmt == "GIF" and changed:
        notes.append(
            f"GIF has 1-bit transparency: alpha below {GIF_ALPHA_THRESHOLD} made transparent"
        )
    t_loaded = time.perf_counter()
    small = pixels.shape[0] * pixels.shape[1] <= EARLY_IMPORT_MAX_PIXELS
    if fit.method != "random" and s.palette is None and small:
        # its import overlapped decoding: what is left of it is neither the load's nor
        # the fit's (total has it); a larger image overlaps it with counting colors, in fit
        finish_import()
    t_fit = time.perf_counter()

    strength = s.strength
    palette = None if s.palette is None else np.array(s.palette, dtype=np.uint8)
    keep = np.array(s.keep_colors, dtype=np.uint8) if s.keep_colors else None
    target_met = None
    if not s.has_target:
        result = quantize(pixels, k, options=fit, palette=palette, progress=progress,
                          dither=s.dither, dither_strength=strength, keep=keep,
                          whole_palette=s.whole_palette)  # fmt: skip
        fit_seconds = result.seconds["fit"]
    else:
        report_stage(Stage.FIT)
        k, result, target_met = quantize_to_target(
            pixels, s.k, target_psnr=s.target_psnr, max_mse=s.max_mse, options=fit,
            dither=s.dither, dither_strength=strength, keep=keep,
        )  # fmt: skip
        # every k tried counts: the search is the fit
        fit_seconds = time.perf_counter() - t_fit - result.seconds["map"]
        goal = f"PSNR {s.target_psnr:g} dB" if s.target_psnr is not None else f"MSE {s.max_mse:g}"
        notes.append(
            f"target {goal}: reached with k={k}" if target_met
            else f"target {goal} missed even with k={s.k}"
        )  # fmt: skip
        if decided_later:
            output = name(k)  # type: ignore[misc]
            _check_output(None if in_stream else path, output, s.overwrite)
    notes += _palette_notes(s)
    if palette is None and result.fit_pixels == 0:
        notes.append(
            f"image has only {result.colors_in} distinct colors, not more than k={k}: "
            "reproduced exactly"
        )
    elif palette is None and result.colors_out < k:
        notes.append(f"palette has {result.colors_out} colors, fewer than the {k} asked")
    strength = result.dither_strength  # 0 when reproduced exactly: no error to diffuse
    if strength > 0:
        notes.append(
            "dithered ("
            + (
                "Floyd-Steinberg scaled by a dither map"
                if s.dither == "adaptive"
                else "Floyd-Steinberg"
            )
            + (f", strength {strength:g}" if strength < 1 else "")
            + "): error measured on the dithered image"
        )

    report_stage(Stage.SAVE)
    t_save = time.perf_counter()
    width, height = image.width, image.height
    if fmt != "JPEG" and not s.metrics:  # nothing reads the pixels again: let them go
        pixels = None  # type: ignore[assignment]
        image = dataclasses.replace(image, pixels=None)  # type: ignore[arg-type]  # the report's only
        release_free_memory(width * height)
    min_met = s.meets_minimum(result.distortion.psnr)
    if min_met is False:  # below the minimum: nothing is encoded or written
        bytes_out, written = 0, False
    else:
        bytes_out = save_quantized(
            out_stream or output,
            result.palette,
            result.indices,
            transparent_index=result.transparent_index,
            icc_profile=None if s.strip else image.icc_profile,
            dpi=None if s.strip else image.dpi,
            overwrite=s.overwrite,
            max_bytes=image.bytes - 1 if s.skip_if_larger else None,
            optimize=s.optimize,
        )
        written = not s.skip_if_larger or bytes_out < image.bytes
    notes += _not_written(s, written, min_met, result.distortion.psnr, bytes_out, image.bytes,
                          fmt)  # fmt: skip
    notes += _optimize_note(s, fmt, animated=False)
    t_saved = time.perf_counter()

    distortion, colors_out = result.distortion, result.colors_out
    written_pixels = None
    if fmt == "JPEG" and written and out_stream is None:  # lossy: measure the file as written
        written_pixels = load_image(output, max_pixels=None).pixels
        distortion = image_distortion(pixels, written_pixels)
        colors_out = color_histogram(written_pixels.reshape(-1, 3)).n_colors
        notes.append("JPEG is lossy: error and colors measured on the decoded file")
    t_measure = time.perf_counter()
    if s.metrics:
        report_stage(Stage.METRICS)
        if written_pixels is None:
            written_pixels = result.to_array()
    measured = perceptual(pixels, written_pixels, s.metrics)
    for metric, value in measured.items():
        if value.how:
            notes.append(f"{METRIC_LABELS[metric]} {value.how}")
        elif value.sampled:
            notes.append(
                f"{METRIC_LABELS[metric]} on {value.rows:,} of {value.of_rows:,} rows "
                "(evenly spaced strips)"
            )
    t_end = time.perf_counter()

    return Report(
        input=str(path),
        output=str(output),
        format=fmt,
        method=method,
        space=fit.space,
        dither=s.dither if strength > 0 else "none",
        dither_strength=strength,
        k=k,
        seed=fit.seed,
        sample=result.fit_pixels,
        width=width,
        height=height,
        frames=image.frames,
        frames_out=1,
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
        seconds=StageSeconds(
            load=t_loaded - t_start,
            fit=fit_seconds,
            map=result.seconds["map"],
            save=t_saved - t_save,
            metrics=t_end - t_measure if s.metrics else None,
            total=t_end - t_start,
        ),
        notes=tuple(notes),
        written=written,
        target_met=target_met,
        min_met=min_met,
    )


def _not_written(
    s: CompressSettings,
    written: bool,
    min_met: bool | None,
    psnr: float | None,
    bytes_out: int,
    bytes_in: int,
    fmt: str,
) -> list[str]:
    """The report's note on why nothing was written (--min-psnr, --skip-if-larger),
    or that what was written (as ``fmt``) is larger than the input
    (:func:`larger_note`)."""
    if min_met is False:
        return [f"not written: PSNR {psnr:.2f} dB is below the minimum {s.min_psnr:g} dB"]
    if not written:
        return [f"not written: {bytes_out:,} bytes would not be smaller than the input's "
                f"{bytes_in:,}"]  # fmt: skip
    return [larger_note(bytes_in, bytes_out, fmt)] if is_larger(bytes_in, bytes_out) else []


def _optimize_note(s: CompressSettings, fmt: str, *, animated: bool) -> list[str]:
    """The report's note when ``-O`` asked for oxipng but the output is not a still
    PNG (oxipng optimizes PNG images only; it would drop an APNG's frames)."""
    if not s.optimize or (fmt == "PNG" and not animated):
        return []
    what = "an animated PNG" if fmt == "PNG" else fmt
    return [f"-O {s.optimize} not applied: oxipng optimizes still PNGs, not {what}"]


def _palette_notes(s: CompressSettings) -> list[str]:
    """What the report says about kept colors and a given or shared palette."""
    notes = [f"{len(s.keep_colors)} colors kept exactly"] if s.keep_colors else []
    if s.palette is not None:
        kind = "shared" if s.whole_palette else "given"
        notes.append(f"mapped onto the {kind} palette of {len(s.palette)} colors")
    return notes


def _animation_report(
    source: Path | IO[bytes],
    output: Path | IO[bytes],
    fmt: str,
    settings: CompressSettings,
    t_start: float,
    progress: Callable[[Stage], None] | None,
) -> Report:
    """Quantize an animation (:func:`kquant.animation.quantize_animation`) and report
    it like an image: distortion and colors over all frames."""
    s, fit = settings, settings.fit
    name = "-" if hasattr(source, "read") else str(source)
    t_load = time.perf_counter()
    result = quantize_animation(source, output, fmt, s, progress=progress)
    notes = list(result.notes)
    notes.append(
        f"animation: {result.frames} frames, "
        + ("a palette per frame" if result.per_frame else "one palette for all frames")
        + (f", loop {result.loop}" if result.loop is not None else ", plays once")
    )
    notes += _palette_notes(s)
    strength = result.dither_strength
    if strength > 0:
        held = "frame by frame" if result.per_frame else "pixels that did not change kept"
        notes.append(f"dithered ({s.dither}, {held}): error measured on the result")
    if s.metrics:
        notes.append("perceptual measures are not computed for animations")
    bytes_in = max(result.bytes_in, 0)
    d = result.distortion
    notes += _not_written(s, result.written, result.min_met, d.psnr, result.bytes_out, bytes_in,
                          fmt)  # fmt: skip
    notes += _optimize_note(s, fmt, animated=True)
    total = time.perf_counter() - t_start
    return Report(
        input=name,
        output=str(output) if not hasattr(output, "write") else "-",
        format=fmt,
        method="palette" if s.palette is not None else fit.method,
        space=fit.space,
        dither=s.dither if strength > 0 else "none",
        dither_strength=strength,
        k=len(s.palette) if s.palette is not None else s.k,
        seed=fit.seed,
        sample=result.fit_pixels,
        width=result.width,
        height=result.height,
        frames=result.frames,
        frames_out=result.frames_out,
        grayscale=False,
        alpha=result.alpha,
        colors_in=result.colors_in,
        colors_out=result.colors_out,
        mse=d.mse,
        psnr=d.psnr,
        max_error=d.max_error,
        delta_e=None,
        ssim=None,
        delta_e_blur=None,
        ssim_blur=None,
        ssimulacra2=None,
        bytes_in=bytes_in,
        bytes_out=result.bytes_out,
        seconds=StageSeconds(
            load=t_load - t_start,
            fit=result.seconds["fit"],
            map=result.seconds["map"],
            save=result.seconds["save"],
            metrics=None,
            total=total,
        ),
        notes=tuple(notes),
        written=result.written,
        min_met=result.min_met,
    )
