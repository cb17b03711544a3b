"""File to file: load, quantize, save, and report what was done.

:func:`compress_file` is what ``kquant compress`` runs for each input; it is plain
library code (no click), so scripts can call it too.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from kquant.core.codebook import finish_import, start_import
from kquant.core.colors import color_histogram
from kquant.core.memory import release_free_memory
from kquant.core.metrics import Distortion, image_distortion, perceptual
from kquant.core.quantizer import Quantized, quantize, quantize_to_target
from kquant.defaults import INDEXED_LIMIT, METRIC_FIELDS, METRIC_LABELS
from kquant.errors import ImageReadError, UsageError
from kquant.io.animation import ANIMATED_FORMATS, count_frames, quantize_animation
from kquant.io.images import (
    GIF_ALPHA_THRESHOLD,
    LoadedImage,
    check_writable,
    format_for,
    load_image,
    one_bit_alpha,
    save_quantized,
)
from kquant.run.naming import OutputName, default_template
from kquant.run.report import Report, StageSeconds, is_larger, larger_note
from kquant.settings import CompressSettings
from kquant.stages import Stage

__all__ = ["compress_file", "default_output"]


def default_output(
    input_path: str | os.PathLike[str], method: str, marks: tuple[str, ...] = ()
) -> OutputName:
    """The default output beside the input, as a function of k:
    ``<folder>/<stem>-k<K>.png``, with the method when it is not k-means and the
    ``marks`` of other settings (:func:`kquant.run.naming.default_template`)."""
    p = Path(input_path)
    return OutputName(p.parent, default_template(method, marks), p, method)


def _check_output(plan: _Plan, overwrite: bool) -> None:
    """Refuse an output that is the input (unless ``overwrite``), exists, or cannot be
    written."""
    output = plan.output
    same = not plan.from_stream and output.exists() and os.path.samefile(plan.path, output)
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
    :func:`kquant.io.images.save_quantized`).

    Parameters
    ----------
    input_path : path-like or binary file object
        A file object (e.g. ``io.BytesIO`` of stdin) is named ``-`` in the report.
    output_path : path-like, binary file object, callable, or None
        The suffix picks the format; a file object (e.g. ``sys.stdout.buffer``) gets a
        PNG, written once complete. A callable (such as
        :class:`kquant.run.naming.OutputName`) gives the path for a k: with a quality
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
    plan = _plan(input_path, output_path, settings)
    (progress or _no_progress)(Stage.LOAD)
    if plan.animated:
        outcome = _compress_animation(plan, settings, t_start, progress)
    else:
        outcome = _compress_still(plan, settings, t_start, progress)
    return _report(plan, settings, outcome)


def _no_progress(stage: Stage) -> None:
    pass


@dataclass
class _Plan:
    """What :func:`compress_file` will do, decided before anything is decoded."""

    path: Path  # the input's name: "-" for a stream
    source: Path | IO[bytes]
    from_stream: bool
    output: Path  # "-" for a stream; with a k chosen later, set once it is
    out_stream: IO[bytes] | None
    name: Callable[[int], Path] | None  # the output's path for a k
    fmt: str
    method: str  # "palette" for a given palette
    k: int  # the k of the report and names (a given palette's size)
    animated: bool
    k_chosen_later: bool = False  # by a quality target

    @property
    def destination(self) -> Path | IO[bytes]:
        return self.out_stream or self.output

    @property
    def name_later(self) -> bool:
        """The output's name depends on the k a quality target chooses."""
        return self.name is not None and self.k_chosen_later


def _plan(
    input_path: str | os.PathLike[str] | IO[bytes],
    output_path: str | os.PathLike[str] | IO[bytes] | OutputName | None,
    s: CompressSettings,
) -> _Plan:
    """The input, the output and its format, and whether the input is animated;
    every check that needs no decoding (see :func:`compress_file`)."""
    in_stream = cast("IO[bytes]", input_path) if hasattr(input_path, "read") else None
    out_stream = cast("IO[bytes]", output_path) if hasattr(output_path, "write") else None
    path = Path("-")  # the input's name: "-" for a stream
    if in_stream is None:
        path = Path(cast("str | os.PathLike[str]", input_path))
    elif output_path is None:
        raise UsageError("an image read from a stream needs an output path or stream")
    source: Path | IO[bytes] = in_stream or path
    method = "palette" if s.palette is not None else s.fit.method
    k = len(s.palette) if s.palette is not None else s.k
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
    plan = _Plan(path, source, in_stream is not None, output, out_stream, name, fmt, method, k,
                 animated, k_chosen_later=s.has_target)  # fmt: skip
    if out_stream is None:
        # with a name that depends on the chosen k, only the folder can be checked now
        _check_output(plan, s.overwrite or plan.name_later)
    return plan


@dataclass
class _Outcome:
    """What quantizing and writing an image or an animation gave, for its report."""

    k: int
    width: int
    height: int
    frames: int
    frames_out: int
    grayscale: bool
    alpha: bool
    colors_in: int
    colors_out: int
    distortion: Distortion
    fit_pixels: int
    dither_strength: float
    bytes_in: int
    bytes_out: int
    written: bool
    min_met: bool | None
    seconds: StageSeconds
    notes: list[str]
    measured: dict[str, float | None] = field(default_factory=dict)
    target_met: bool | None = None


def _report(plan: _Plan, s: CompressSettings, o: _Outcome) -> Report:
    """The one place a :class:`Report` is made."""
    measured = {name: None for name in METRIC_FIELDS.values()} | o.measured
    d = o.distortion
    return Report(
        input=str(plan.path),
        output=str(plan.output),
        format=plan.fmt,
        method=plan.method,
        space=s.fit.space,
        dither=s.dither if o.dither_strength > 0 else "none",
        dither_strength=o.dither_strength,
        k=o.k,
        seed=s.fit.seed,
        sample=o.fit_pixels,
        width=o.width,
        height=o.height,
        frames=o.frames,
        frames_out=o.frames_out,
        grayscale=o.grayscale,
        alpha=o.alpha,
        colors_in=o.colors_in,
        colors_out=o.colors_out,
        mse=d.mse,
        psnr=d.psnr,
        max_error=d.max_error,
        **measured,
        bytes_in=o.bytes_in,
        bytes_out=o.bytes_out,
        seconds=o.seconds,
        notes=tuple(o.notes),
        written=o.written,
        target_met=o.target_met,
        min_met=o.min_met,
    )


def _compress_still(
    plan: _Plan, s: CompressSettings, t_start: float, progress: Callable[[Stage], None] | None
) -> _Outcome:
    """Load, quantize (at k, or searching k for a target), write and measure a
    still image."""
    image, pixels, notes = _load_still(plan, s)
    t_loaded = time.perf_counter()
    small = pixels.shape[0] * pixels.shape[1] <= EARLY_IMPORT_MAX_PIXELS
    if s.fit.method != "random" and s.palette is None and small and not s.has_target:
        # its import overlapped decoding: what is left of it is neither the load's nor
        # the fit's (total has it); a larger image, or a quality target's search (the
        # fit stage), overlaps it with counting colors
        finish_import()
    t_fit = time.perf_counter()
    k, result, target_met = _quantize_still(plan, s, pixels, notes, progress)
    fit_seconds = result.seconds["fit"]
    if s.has_target:  # every k tried counts: the search is the fit
        fit_seconds = time.perf_counter() - t_fit - result.seconds["map"]
    notes += _still_notes(s, result, k)
    (progress or _no_progress)(Stage.SAVE)
    t_save = time.perf_counter()
    width, height, frames, grayscale = image.width, image.height, image.frames, image.grayscale
    if plan.fmt != "JPEG" and not s.metrics:  # nothing reads the pixels again: let them go
        pixels = None  # type: ignore[assignment]
        image = dataclasses.replace(image, pixels=None)  # type: ignore[arg-type]  # the report's only
        release_free_memory(width * height)
    bytes_out, written, min_met = _write_still(plan, s, image, result, notes)
    t_saved = time.perf_counter()
    distortion, colors_out, measured, t_measure = _measure_still(
        plan, s, pixels, result, written, notes, progress
    )
    t_end = time.perf_counter()
    return _Outcome(
        k=k, width=width, height=height, frames=frames, frames_out=1, grayscale=grayscale,
        alpha=result.has_alpha, colors_in=result.colors_in, colors_out=colors_out,
        distortion=distortion, fit_pixels=result.fit_pixels,
        dither_strength=result.dither_strength, bytes_in=image.bytes, bytes_out=bytes_out,
        written=written, min_met=min_met, target_met=target_met, notes=notes,
        measured=measured,
        seconds=StageSeconds(
            load=t_loaded - t_start, fit=fit_seconds, map=result.seconds["map"],
            save=t_saved - t_save, metrics=t_end - t_measure if s.metrics else None,
            total=t_end - t_start,
        ),
    )  # fmt: skip


def _load_still(plan: _Plan, s: CompressSettings) -> tuple[LoadedImage, np.ndarray, list[str]]:
    """The image, its pixels as quantized (1-bit alpha for GIF) and the notes so far.
    Starts scikit-learn's import alongside decoding."""

    def import_early(pixels: int) -> None:
        if s.fit.method != "random" and pixels <= EARLY_IMPORT_MAX_PIXELS:
            start_import()  # overlaps scikit-learn's import with decoding

    image = load_image(plan.source, max_pixels=s.max_pixels, name="-", on_header=import_early)
    if s.fit.method != "random":
        start_import()  # a large image: overlaps the import with counting colors only
    plan.path = image.path
    pixels = image.pixels
    notes: list[str] = list(image.notes)
    if image.frames > 1:
        notes.append(f"only the first of {image.frames} frames was quantized (--first-frame)")
    if pixels.shape[2] == 4 and plan.fmt == "JPEG":
        raise UsageError(
            f"{plan.output}: JPEG cannot store the transparency of {plan.path}; "
            "write .png, .webp, .gif or .tif"
        )
    if plan.fmt == "GIF":
        pixels, changed = one_bit_alpha(pixels)
        if changed:
            notes.append(
                f"GIF has 1-bit transparency: alpha below {GIF_ALPHA_THRESHOLD} made transparent"
            )
    return image, pixels, notes


def _quantize_still(
    plan: _Plan,
    s: CompressSettings,
    pixels: np.ndarray,
    notes: list[str],
    progress: Callable[[Stage], None] | None,
) -> tuple[int, Quantized, bool | None]:
    """(k, result, whether the target was met): at ``s.k``, or the fewest colors
    meeting the quality target, whose output name is then checked."""
    palette = None if s.palette is None else np.array(s.palette, dtype=np.uint8)
    keep = np.array(s.keep_colors, dtype=np.uint8) if s.keep_colors else None
    if not s.has_target:
        result = quantize(pixels, plan.k, options=s.fit, palette=palette, progress=progress,
                          dither=s.dither, dither_strength=s.strength, keep=keep,
                          whole_palette=s.whole_palette, run_budget=s.runs)  # fmt: skip
        return plan.k, result, None
    (progress or _no_progress)(Stage.FIT)
    k, result, target_met = quantize_to_target(
        pixels, s.k, target_psnr=s.target_psnr, max_mse=s.max_mse, options=s.fit,
        dither=s.dither, dither_strength=s.strength, keep=keep, run_budget=s.runs,
    )  # fmt: skip
    goal = f"PSNR {s.target_psnr:g} dB" if s.target_psnr is not None else f"MSE {s.max_mse:g}"
    notes.append(
        f"target {goal}: reached with k={k}" if target_met
        else f"target {goal} missed even with k={s.k}"
    )  # fmt: skip
    if plan.name_later:
        plan.output = plan.name(k)  # type: ignore[misc]
        _check_output(plan, s.overwrite)
    return k, result, target_met


def _still_notes(s: CompressSettings, result: Quantized, k: int) -> list[str]:
    """What the report says about the palette and the dithering of a still image."""
    notes = _palette_notes(s)
    if s.palette is None and result.fit_pixels == 0:
        notes.append(
            f"image has only {result.colors_in} distinct colors, not more than k={k}: "
            "reproduced exactly"
        )
    elif s.palette is None and result.colors_out < k:
        notes.append(f"palette has {result.colors_out} colors, fewer than the {k} asked")
    strength = result.dither_strength  # 0 when reproduced exactly: no error to diffuse
    if strength > 0:
        how = "Floyd-Steinberg scaled by a dither map" if s.dither == "adaptive" else (
            "Floyd-Steinberg")  # fmt: skip
        how += f", strength {strength:g}" if strength < 1 else ""
        notes.append(f"dithered ({how}): error measured on the dithered image")
    elif s.runs and result.fit_pixels and result.transparent_index is None:
        notes.append(f"rate-aware: runs continued where a pixel's squared error grows by at "
                     f"most {s.runs:g}; error measured on the result")  # fmt: skip
    return notes


def _write_still(
    plan: _Plan, s: CompressSettings, image: LoadedImage, result: Quantized, notes: list[str]
) -> tuple[int, bool, bool | None]:
    """Write the result unless it is below ``min_psnr`` (or, with ``skip_if_larger``,
    not smaller): (bytes, written, minimum met), and the notes on it."""
    min_met = s.meets_minimum(result.distortion.psnr)
    if min_met is False:  # below the minimum: nothing is encoded or written
        bytes_out, written = 0, False
    else:
        bytes_out = save_quantized(
            plan.destination,
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
                          plan.fmt)  # fmt: skip
    notes += _optimize_note(s, plan.fmt, animated=False)
    return bytes_out, written, min_met


def _measure_still(
    plan: _Plan,
    s: CompressSettings,
    pixels: np.ndarray | None,
    result: Quantized,
    written: bool,
    notes: list[str],
    progress: Callable[[Stage], None] | None,
) -> tuple[Distortion, int, dict[str, float | None], float]:
    """The distortion and colors as written (a JPEG is measured on its decoded file),
    the perceptual measures by report field, and when measuring them started."""
    distortion, colors_out = result.distortion, result.colors_out
    written_pixels = None
    if plan.fmt == "JPEG" and written and plan.out_stream is None:  # lossy: measure the file
        assert pixels is not None  # kept for JPEG
        written_pixels = load_image(plan.output, max_pixels=None).pixels
        distortion = image_distortion(pixels, written_pixels)
        colors_out = color_histogram(written_pixels.reshape(-1, 3)).n_colors
        notes.append("JPEG is lossy: error and colors measured on the decoded file")
    t_measure = time.perf_counter()
    if s.metrics:
        (progress or _no_progress)(Stage.METRICS)
        if written_pixels is None:
            written_pixels = result.to_array()
    measured = perceptual(pixels, written_pixels, s.metrics)  # type: ignore[arg-type]
    for metric, value in measured.items():
        if value.how:
            notes.append(f"{METRIC_LABELS[metric]} {value.how}")
        elif value.sampled:
            notes.append(
                f"{METRIC_LABELS[metric]} on {value.rows:,} of {value.of_rows:,} rows "
                "(evenly spaced strips)"
            )
    return distortion, colors_out, {name: v.value for name, v in measured.items()}, t_measure


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
    """The report's notes when ``-O`` asked for oxipng but the output is not a still
    PNG (oxipng optimizes PNG images only; it would drop an APNG's frames), and when
    an animation was asked for continued runs (stills only)."""
    runs = ["--rate-aware not applied: stills only"] if animated and s.run_budget else []
    if not s.optimize or (fmt == "PNG" and not animated):
        return runs
    what = "an animated PNG" if fmt == "PNG" else fmt
    return [f"-O {s.optimize} not applied: oxipng optimizes still PNGs, not {what}", *runs]


def _palette_notes(s: CompressSettings) -> list[str]:
    """What the report says about kept colors and a given or shared palette."""
    notes = [f"{len(s.keep_colors)} colors kept exactly"] if s.keep_colors else []
    if s.palette is not None:
        kind = "shared" if s.whole_palette else "given"
        notes.append(f"mapped onto the {kind} palette of {len(s.palette)} colors")
    return notes


def _compress_animation(
    plan: _Plan, s: CompressSettings, t_start: float, progress: Callable[[Stage], None] | None
) -> _Outcome:
    """Quantize an animation (:func:`kquant.io.animation.quantize_animation`) and report
    it like an image: distortion and colors over all frames."""
    t_load = time.perf_counter()
    result = quantize_animation(plan.source, plan.destination, plan.fmt, s, progress=progress)
    notes = list(result.notes)
    notes.append(
        f"animation: {result.frames} frames, "
        + ("a palette per frame" if result.per_frame else "one palette for all frames")
        + (f", loop {result.loop}" if result.loop is not None else ", plays once")
    )
    notes += _palette_notes(s)
    if result.dither_strength > 0:
        held = "frame by frame" if result.per_frame else "pixels that did not change kept"
        notes.append(f"dithered ({s.dither}, {held}): error measured on the result")
    if s.metrics:
        notes.append("perceptual measures are not computed for animations")
    bytes_in = max(result.bytes_in, 0)
    d = result.distortion
    notes += _not_written(s, result.written, result.min_met, d.psnr, result.bytes_out, bytes_in,
                          plan.fmt)  # fmt: skip
    notes += _optimize_note(s, plan.fmt, animated=True)
    seconds = StageSeconds(
        load=t_load - t_start, fit=result.seconds["fit"], map=result.seconds["map"],
        save=result.seconds["save"], metrics=None, total=time.perf_counter() - t_start,
    )  # fmt: skip
    return _Outcome(
        k=plan.k, width=result.width, height=result.height, frames=result.frames,
        frames_out=result.frames_out, grayscale=False, alpha=result.alpha,
        colors_in=result.colors_in, colors_out=result.colors_out, distortion=d,
        fit_pixels=result.fit_pixels, dither_strength=result.dither_strength,
        bytes_in=bytes_in, bytes_out=result.bytes_out, written=result.written,
        min_met=result.min_met, seconds=seconds, notes=notes,
    )  # fmt: skip
