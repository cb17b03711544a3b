"""Animations: every frame quantized, written as an animated GIF, WebP or PNG (APNG).

Frames are read as Pillow composites them (each frame the full canvas as shown, after
the previous frames' disposal and blending), so inputs of any disposal scheme give
the same result. Two passes over the file keep memory bounded: the first decodes the
frames one at a time and adds up their color histograms; the palette is fitted once
on the sum (every frame's pixels weigh the same, so no frame's colors are left out
and nothing flickers); the second decodes the frames again and maps each onto it. No
more than one decoded frame is held at a time, plus the output: a GIF is encoded
frame by frame (:class:`GifWriter`), WebP and APNG frames are kept as 1-byte palette
indices for Pillow's writers.

With ``frame_palette="per-frame"`` each frame gets its own palette (GIF: a local
color table per frame; WebP: frames are plain pixels): better colors per frame, more
bytes, and colors that may shift between frames. APNG has one palette for all frames,
so it takes a shared palette only.

Dithering runs on each frame on its own: the same source pixels give the same
result in every frame, but where pixels change slightly between frames the dither
pattern changes too, which shows as shimmer in still areas of noisy video.

Timing is kept: the number of frames, each frame's duration (GIF stores hundredths of
a second) and the loop count. Loops are Pillow's: a GIF without a NETSCAPE block
plays once (``loop`` None), WebP and APNG count plays (0: forever).
"""

from __future__ import annotations

import io
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from kquant.core.codebook import start_import
from kquant.core.colors import ColorHistogram, ColorTable, keys_histogram, pack, unpack
from kquant.core.fit import fit, given, in_order
from kquant.core.histogram import MERGE_EVERY, Histogram, index_dtype, prepare, spare_limit
from kquant.core.metrics import Distortion, distortion_from_histogram, label_distortion, psnr
from kquant.core.quantizer import quantize
from kquant.core.remap import dither_strength, match_colors, remap, reproduces
from kquant.defaults import ANIMATION_WORK_FACTOR, DEFAULT_MAX_PIXELS, INDEXED_LIMIT
from kquant.errors import ImageTooLargeError, UsageError
from kquant.io.gif import GifWriter, gif_extent
from kquant.io.images import (
    GIF_ALPHA_THRESHOLD,
    check_size,
    open_source,
    pixels_from_pil,
    reading,
    write_atomically,
)
from kquant.settings import CompressSettings
from kquant.stages import Stage

__all__ = [
    "ANIMATED_FORMATS",
    "AnimatedResult",
    "GifWriter",
    "count_frames",
    "frame_pixels",
    "quantize_animation",
]

#: Output formats that hold an animation (Pillow's names): GIF, WebP, APNG.
ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")
#: A frame as written: (palette (P, C) uint8, (H, W) indices, transparent row or None).
Frame = tuple[np.ndarray, np.ndarray, "int | None"]


def count_frames(path: str | os.PathLike[str] | IO[bytes], name: str = "-") -> int:
    """Frames in an image file, from its headers (a GIF's blocks are skipped
    through, nothing decoded); 1 for a still image. A stream is left at its start.

    Raises
    ------
    ImageReadError
        The file cannot be read, or its frames cannot be counted (a cut GIF): said
        before any work, rather than quantizing the first frame as if it were all.
    """
    source, where, _ = open_source(path, name)
    try:
        with reading(where, source), Image.open(source) as im:
            return int(getattr(im, "n_frames", 1))
    finally:
        if hasattr(source, "seek"):
            source.seek(0)  # type: ignore[union-attr]


def animation_canvas(
    im: Image.Image, source: Path | IO[bytes], path: Path, max_pixels: int | None
) -> tuple[int, int]:
    """(width, height) of the canvas that holds every frame of an opened animation,
    checked before any frame is decoded: the canvas against ``max_pixels``, and the
    work (canvas pixels x frames) against :data:`ANIMATION_WORK_FACTOR` x
    ``max_pixels``.

    A GIF's frames may reach beyond its logical screen (Pillow then grows the image
    as it decodes them, with its own decompression-bomb check off while kquant reads);
    the frames' extents are read from the file's blocks first
    (:func:`gif_extent`), and every frame is placed on the canvas that holds them all.

    Raises
    ------
    ImageTooLargeError
    """
    width, height = check_size(im, path, max_pixels)
    frames = int(getattr(im, "n_frames", 1))
    if im.format == "GIF":
        width, height = gif_extent(source)
    elif im.format not in _ONE_SIZE and frames > 1:
        width, height = _largest_frame(im, frames)
    if (width, height) != im.size:
        check_size(im, path, max_pixels, size=(width, height), what="a frame reaches")
    if max_pixels is not None and width * height * frames > ANIMATION_WORK_FACTOR * max_pixels:
        limit = ANIMATION_WORK_FACTOR * max_pixels
        raise ImageTooLargeError(
            f"{path}: animation of {frames:,} frames of {width}x{height} is "
            f"{width * height * frames:,} pixels to decode, above the limit of {limit:,} "
            f"({ANIMATION_WORK_FACTOR} x the pixel limit; decompression-bomb guard)",
            pixels=width * height * frames,
            limit=limit,
        )
    return width, height


#: Formats whose frames all have the image's size (Pillow composites APNG and WebP
#: frames on the canvas; FLI frames are deltas of one canvas). Frames of the others
#: (TIFF pages, MPO pictures, PSD layers...) may each have a size of their own.
_ONE_SIZE = frozenset({"PNG", "WEBP", "FLI"})


def _largest_frame(im: Image.Image, frames: int) -> tuple[int, int]:
    """(width, height) holding every frame of a multi-frame image whose frames may
    differ in size, from their headers: seeking a TIFF page or an MPO picture reads
    its header, not its pixels. The image is left at its first frame."""
    width, height = im.size
    try:
        for number in range(1, frames):
            im.seek(number)
            width, height = max(width, im.width), max(height, im.height)
    finally:
        im.seek(0)
    return width, height


def _on_canvas(keys: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """A frame's (H, W) uint32 keys on the (width, height) canvas that holds every
    frame (:func:`animation_canvas`): as they are if they fill it, else in its
    top-left corner with transparent pixels around (a GIF's frames as Pillow gives
    them before a later frame grows the image; TIFF pages or MPO pictures of other
    sizes)."""
    width, height = canvas
    if keys.shape == (height, width):
        return keys
    if keys.shape[0] > height or keys.shape[1] > width:  # the headers said otherwise
        raise ValueError(
            f"a frame of {keys.shape[1]}x{keys.shape[0]} is larger than its headers said "
            f"({width}x{height})"
        )
    placed = np.zeros((height, width), np.uint32)  # transparent black
    placed[: keys.shape[0], : keys.shape[1]] = keys
    return placed


@dataclass
class AnimatedResult:
    """What :func:`quantize_animation` did.

    Attributes
    ----------
    width, height, frames : int
    bytes_in : int
        Size of the input (-1: a stream of unknown size).
    per_frame : bool
        A palette per frame (else one for all).
    frames_out : int
        Frames in the written file (libwebp folds a frame identical to the one before
        into that one's duration).
    durations : list of int
        Milliseconds each input frame is shown.
    loop : int or None
    alpha : bool
        Some frame has transparency.
    colors_in : int
        Distinct visible colors over all frames.
    colors_out : int
        Distinct visible colors written, over all frames.
    distortion : Distortion
        Over the visible pixels of every frame.
    fit_pixels : int
        Pixels the palette (or the palettes) were fitted on; 0 if none was needed.
    dithered : bool
        Error was diffused (not when the palette holds every color exactly).
    dither_strength : float
        The share diffused (:func:`kquant.core.remap.dither_strength`); 0 undithered.
    bytes_out : int
    written : bool
        False when ``skip_if_larger`` or ``min_psnr`` kept the file from being written.
    min_met : bool or None
        Whether the PSNR reached ``min_psnr`` (None: no minimum).
    seconds : dict
        ``fit`` (reading and counting, fitting) and ``map`` (reading again, mapping),
        ``save`` (encoding and writing).
    notes : list of str
    """

    width: int
    height: int
    frames: int
    bytes_in: int = 0
    per_frame: bool = False
    frames_out: int = 0
    durations: list[int] = field(default_factory=list)
    loop: int | None = None
    alpha: bool = False
    colors_in: int = 0
    colors_out: int = 0
    distortion: Distortion = field(default_factory=lambda: Distortion(0.0, None, 0))
    fit_pixels: int = 0
    dithered: bool = False
    dither_strength: float = 0.0
    bytes_out: int = 0
    written: bool = False
    min_met: bool | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


#: Frames decoded in the first pass are kept for the second, as 4 bytes a pixel, up to
#: this many bytes in all (500 frames of 480x270); past it every frame is decoded
#: again. Measured on a 120-frame 480x270 APNG: decoding and converting a frame
#: costs about 3 ms, a third of kquant's time per frame.
FRAME_CACHE_BYTES = 256 << 20
_OPAQUE = np.uint32(0xFF000000)


@dataclass
class _Frames:
    """An animation's frames as Pillow composites them, decoded one at a time, as
    (H, W) uint32 keys of their RGBA pixels (:func:`kquant.core.colors.pack`'s layout:
    alpha in the top byte). The first pass records the durations and whether any
    pixel is not opaque, and keeps frames up to :data:`FRAME_CACHE_BYTES` for the
    second."""

    source: Path | IO[bytes]
    path: Path
    max_pixels: int | None
    gif_alpha: bool  # alpha made 1-bit (GIF output)
    cache_bytes: int = FRAME_CACHE_BYTES
    alpha: bool = False
    durations: list[int] = field(default_factory=list)
    _cache: list[np.ndarray] | None = field(default_factory=list)
    _passes: int = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        first = self._passes == 0
        self._passes += 1
        if not first and self._cache is not None:  # every frame was kept
            yield from self._cache
            return
        if hasattr(self.source, "seek"):
            self.source.seek(0)  # type: ignore[union-attr]
        kept = 0
        with reading(self.path, self.source), Image.open(self.source) as im:
            canvas = animation_canvas(im, self.source, self.path, self.max_pixels)
            for number in range(int(getattr(im, "n_frames", 1))):
                im.seek(number)
                im.load()
                keys = _on_canvas(self._keys(im), canvas)
                if first:
                    self.durations.append(int(im.info.get("duration") or 0))
                    self.alpha = self.alpha or bool((keys < _OPAQUE).any())
                    if self._cache is not None and kept + keys.nbytes <= self.cache_bytes:
                        self._cache.append(keys)
                        kept += keys.nbytes
                    else:
                        self._cache = None
                yield keys

    def pixels(self, keys: np.ndarray) -> np.ndarray:
        """(H, W, C) uint8 pixels of a frame's keys: RGBA if the animation has alpha
        (a view), else RGB."""
        if sys.byteorder != "little":
            rgba = unpack(keys.reshape(-1), 4).reshape(*keys.shape, 4)
        else:
            rgba = keys.view(np.uint8).reshape(*keys.shape, 4)
        return rgba if self.alpha else np.ascontiguousarray(rgba[..., :3])

    def _keys(self, im: Image.Image) -> np.ndarray:
        if im.mode in ("RGBA", "RGB", "P", "L", "LA", "PA", "1"):
            rgba = np.asarray(im.convert("RGBA"))
        else:  # 16-bit and float frames: scaled as for still images
            pixels = pixels_from_pil(im)[0]
            if pixels.shape[2] == 3:
                pixels = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])
            rgba = pixels
        if sys.byteorder != "little":
            keys = pack(rgba.reshape(-1, 4)).reshape(rgba.shape[:2])
        else:
            keys = np.ascontiguousarray(rgba).view(np.uint32)[..., 0].copy()
        if self.gif_alpha:
            alpha = keys >> np.uint32(24)
            if ((alpha > 0) & (alpha < 255)).any():
                keys = np.where(alpha >= GIF_ALPHA_THRESHOLD, keys | _OPAQUE, keys & ~_OPAQUE)
        return keys


def frame_pixels(
    path: str | os.PathLike[str] | IO[bytes],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str = "-",
) -> Iterator[tuple[np.ndarray, int]]:
    """The frames of an image file as Pillow composites them, decoded one at a time:
    (H, W, C) uint8 pixels (RGBA where a frame has a pixel that is not opaque, else
    RGB) and the frame's duration in ms (0 if none).

    Raises
    ------
    ImageReadError, ImageTooLargeError, NotEnoughMemoryError
    """
    source, where, _ = open_source(path, name)
    frames = _Frames(source, where, max_pixels, gif_alpha=False, cache_bytes=0)
    for number, keys in enumerate(frames):
        frames.alpha = bool((keys < _OPAQUE).any())
        yield frames.pixels(keys), frames.durations[number]


def _visible_histogram(keys: np.ndarray) -> ColorHistogram:
    """RGBA histogram of a frame's visible pixels (alpha > 0)."""
    flat = keys.reshape(-1)
    return keys_histogram(flat[flat > np.uint32(0xFFFFFF)], 4)


def quantize_animation(
    input_path: str | os.PathLike[str] | IO[bytes],
    output: Path | IO[bytes],
    fmt: str,
    settings: CompressSettings,
    *,
    name: str = "-",
    progress: Callable[[Stage], None] | None = None,
) -> AnimatedResult:
    """Quantize every frame of an animation and write it as one.

    Parameters
    ----------
    input_path : path-like or binary file object
    output : Path or binary file object
        Written atomically (a stream gets the whole file in one write).
    fmt : {"GIF", "WEBP", "PNG"}
    settings : CompressSettings
        ``k``, ``fit``, ``palette``, ``keep_colors``, ``dither``,
        ``frame_palette``, ``max_pixels``, ``overwrite``, ``skip_if_larger`` are used.
    name : str
        Name of a stream, for messages.
    progress : callable or None
        Called with ``Stage.FIT``, ``Stage.MAP`` and ``Stage.SAVE``.

    Returns
    -------
    AnimatedResult

    Raises
    ------
    UsageError
        Per-frame palettes in APNG, more than 256 colors in GIF, a quality target.
    ImageReadError, ImageWriteError, OutputExistsError
    """
    report_stage = progress or _no_stage
    s = settings
    if fmt not in ANIMATED_FORMATS:
        raise UsageError(f"{fmt} cannot hold an animation")
    per_frame = s.frame_palette == "per-frame" and s.palette is None
    if per_frame and fmt == "PNG":
        raise UsageError("APNG frames share one palette: per-frame palettes need .gif or .webp")
    frames, result = _open(input_path, name, fmt, s, per_frame)
    t0 = time.perf_counter()
    report_stage(Stage.FIT)
    if s.palette is None and s.fit.method != "random":
        start_import()  # scikit-learn's import overlaps the first pass
    # GIF frames store unchanged pixels as transparent (much smaller: 583 -> 149 KB on
    # a 30-frame screencast at k = 256), which needs a free entry: 255 colors
    spare = fmt == "GIF" and s.k >= INDEXED_LIMIT
    if spare:
        result.notes.append(
            "GIF animation: 255 colors and a transparent entry for unchanged pixels"
        )
    one = None if per_frame else _one_palette(frames, s, spare, result)
    if one is not None and fmt == "GIF" and one.rows.shape[0] + result.alpha > INDEXED_LIMIT:
        raise UsageError(
            f"{output}: GIF holds at most {INDEXED_LIMIT} colors, not {one.rows.shape[0]}"
        )
    t1 = time.perf_counter()
    report_stage(Stage.MAP)
    sink = _Sink(GifWriter(result.width, result.height, result.loop) if fmt == "GIF" else None)
    _map_frames(frames, one, s, spare, result, sink)
    t2 = time.perf_counter()
    report_stage(Stage.SAVE)
    data = sink.encode(fmt, result)
    _write(data, output, s, result)
    result.seconds = {"fit": t1 - t0, "map": t2 - t1, "save": time.perf_counter() - t2}
    return result


def _no_stage(stage: Stage) -> None:
    pass


def _open(
    input_path: str | os.PathLike[str] | IO[bytes],
    name: str,
    fmt: str,
    s: CompressSettings,
    per_frame: bool,
) -> tuple[_Frames, AnimatedResult]:
    """The frames to read (twice, or once with per-frame palettes) and the result
    so far: canvas, frame count, loop, the input's size."""
    source, path, size = open_source(input_path, name)
    cache = 0 if per_frame else FRAME_CACHE_BYTES  # one pass only: nothing to keep
    frames = _Frames(source, path, s.max_pixels, gif_alpha=fmt == "GIF", cache_bytes=cache)
    with reading(path, source), Image.open(source) as im:
        width, height = animation_canvas(im, source, path, s.max_pixels)
        first = im.size
        n_frames = int(getattr(im, "n_frames", 1))
        loop = im.info.get("loop")
        if im.format != "GIF" and loop is None:
            loop = 0
    result = AnimatedResult(width=width, height=height, frames=n_frames, bytes_in=size,
                            per_frame=per_frame, loop=loop)  # fmt: skip
    if (width, height) != first:
        result.notes.append(
            f"frames of other sizes than the first ({first[0]}x{first[1]}): all placed on a "
            f"{width}x{height} canvas, transparent around smaller ones"
        )
    return frames, result


@dataclass(frozen=True)
class _OnePalette:
    """The palette of every frame: its rows, every color's row (``table``), the
    share of error diffused (0: frames map through the table) and kept colors."""

    rows: np.ndarray
    table: ColorTable
    strength: float
    keep: np.ndarray | None


def _one_palette(
    frames: _Frames, s: CompressSettings, spare: bool, result: AnimatedResult
) -> _OnePalette:
    """Pass 1: every frame's colors into one histogram, then one palette (given or
    fitted); sets the result's durations, alpha, colors in and, undithered, its
    distortion and colors out."""
    histogram = Histogram()
    pending: list[Future[ColorHistogram]] = []  # at most MERGE_EVERY frames waiting
    with ThreadPoolExecutor(1) as counting:  # sorting releases the GIL: it overlaps decoding
        for keys in frames:
            pending.append(counting.submit(_visible_histogram, keys))
            if len(pending) >= MERGE_EVERY:
                for part in pending:
                    histogram.add(part.result())
                pending = []
        for part in pending:
            histogram.add(part.result())
    if not frames.alpha:
        histogram.drop_alpha()
    if frames.alpha or spare:  # GIF: a transparent entry for unchanged pixels
        histogram.reserve_transparent()
    keep = np.array(s.keep_colors, np.uint8) if s.keep_colors else None
    histogram.add_fixed_colors(keep)
    hist = histogram.total()
    result.durations, result.alpha, result.colors_in = frames.durations, frames.alpha, hist.n_colors
    if s.palette is not None:
        palette = given(s.palette, histogram, s.fit.space).rows
    else:
        fitted = in_order(fit(histogram, s.k, s.fit), hist)
        palette, result.fit_pixels = fitted.rows, fitted.fit_pixels
    # every color's nearest row: undithered, each frame maps through this table;
    # dithered, it tells which pixels may hold their row (see _unchanged)
    labels = match_colors(hist.colors, palette, s.fit.space)
    table = ColorTable(hist, labels.astype(index_dtype(palette.shape[0] + result.alpha)))
    strength = dither_strength(s.dither, s.dither_strength,
                               reproduces(hist.colors, palette, labels))  # fmt: skip
    if strength == 0:
        result.distortion = distortion_from_histogram(hist.colors, hist.counts, palette[labels])
        result.colors_out = int(np.unique(labels).size)
    return _OnePalette(palette, table, strength, keep)


def _map_frames(
    frames: _Frames,
    one: _OnePalette | None,
    s: CompressSettings,
    spare: bool,
    result: AnimatedResult,
    sink: _Sink,
) -> None:
    """Pass 2: every frame onto the one palette (through its table, or dithered in
    mosaics), or onto a palette of its own; into ``sink``."""
    strength = s.strength if one is None else one.strength
    result.dithered, result.dither_strength = strength > 0, strength
    dithered = None
    if one is not None and strength > 0:  # one palette, dithered: frames in mosaics
        dithered = _DitheredFrames(one.rows, one.table, s, one.keep, alpha=result.alpha)
    seen = Histogram()  # per-frame palettes: every frame's colors, for colors_in
    for number, keys in enumerate(frames):
        if one is None and number == 0:
            result.durations = frames.durations
        if one is not None and strength == 0:
            sink.add(_through_table(keys, one.table, one.rows, result.alpha),
                     _duration_of(result, number))  # fmt: skip
        elif dithered is not None:
            sink.emit(dithered.add(number, keys, frames.pixels(keys)), result)
        else:
            sink.emit([_own_palette(frames, keys, number, s, spare, result, seen)], result)
    if dithered is not None:
        sink.emit(dithered.flush(), result)
    if one is None:
        result.colors_in = seen.total().n_colors
    if one is None or strength > 0:
        result.distortion, result.colors_out = sink.distortion(), len(sink.used)


def _own_palette(
    frames: _Frames,
    keys: np.ndarray,
    number: int,
    s: CompressSettings,
    spare: bool,
    result: AnimatedResult,
    seen: Histogram,
) -> tuple[int, Frame, Distortion, int]:
    """A frame quantized on its own (per-frame palettes): (number, frame, its
    distortion, visible pixels)."""
    frames.alpha = bool((keys < _OPAQUE).any())  # per-frame palettes: this frame's own
    result.alpha = result.alpha or frames.alpha
    seen.add(_visible_histogram(keys))
    pixels = frames.pixels(keys)
    keep = np.array(s.keep_colors, np.uint8) if s.keep_colors else None
    q = quantize(pixels, spare_limit(s.k, spare), options=s.fit, keep=keep,
                 dither=s.dither, dither_strength=s.strength)  # fmt: skip
    result.fit_pixels += q.fit_pixels
    visible = (
        int(pixels.shape[0] * pixels.shape[1])
        if q.transparent_index is None
        else int(np.count_nonzero(q.indices != q.transparent_index))
    )
    return number, (q.palette, q.indices, q.transparent_index), q.distortion, visible


class _Sink:
    """Where mapped frames go: the GIF writer (encoded at once) or a list for
    Pillow's writers; with the distortion and colors of the frames it is told about
    (:meth:`emit`)."""

    def __init__(self, gif: GifWriter | None) -> None:
        self.gif = gif
        self.frames: list[Frame] = []
        self.sq_sum, self.n_values, self.max_error = 0.0, 0, 0
        self.used: set[int] = set()

    def add(self, frame: Frame, duration: int) -> None:
        """Hand a frame to the GIF writer (encoded now) or keep it for Pillow's writers."""
        if self.gif is not None:
            self.gif.add(*frame, duration)
        else:
            self.frames.append(frame)

    def emit(self, done: list[tuple[int, Frame, Distortion, int]], result: AnimatedResult) -> None:
        """Add frames done, counting their distortion and colors."""
        for number, frame, d, visible in done:
            self.sq_sum += d.mse * visible * 3
            self.n_values += visible * 3
            self.max_error = max(self.max_error, d.max_error)
            self.used = _used_colors(self.used, *frame)
            self.add(frame, _duration_of(result, number))

    def distortion(self) -> Distortion:
        mse = self.sq_sum / self.n_values if self.n_values else 0.0
        return Distortion(mse=mse, psnr=psnr(mse), max_error=self.max_error)

    def encode(self, fmt: str, result: AnimatedResult) -> bytes:
        """The whole file; sets the result's frames out (and says why fewer)."""
        if self.gif is not None:
            data = self.gif.finish()
            result.frames_out = self.gif.frames
        else:
            data = _encode_pillow(self.frames, fmt, result)
            result.frames_out = _frames_in(data)
        self.frames.clear()
        if result.frames_out < result.frames:  # the note names the writer of the format
            writer = {"WEBP": "libwebp", "PNG": "Pillow's APNG writer"}.get(fmt, "the encoder")
            result.notes.append(
                f"{result.frames - result.frames_out} frames identical to the one before were "
                f"folded into its duration by {writer}"
            )
        return data


def _write(
    data: bytes, output: Path | IO[bytes], s: CompressSettings, result: AnimatedResult
) -> None:
    """Write the file unless it is below ``min_psnr`` or, with ``skip_if_larger``,
    not smaller than the input; a stream gets it in one write."""
    size = result.bytes_in
    max_bytes = size - 1 if s.skip_if_larger and size > 0 else None
    result.bytes_out = len(data)
    result.min_met = s.meets_minimum(result.distortion.psnr)
    result.written = result.min_met is not False and (max_bytes is None or len(data) <= max_bytes)
    if result.written:
        if hasattr(output, "write"):
            output.write(data)  # type: ignore[union-attr]
            output.flush()  # type: ignore[union-attr]
        else:
            write_atomically(Path(output), lambda fh: fh.write(data), overwrite=s.overwrite)


#: A dithered animation's pixel keeps the palette row it had in the previous frame
#: when its color is within this much of the color that row was made for (squared
#: RGB difference, alpha the same), unless the palette has its color exactly:
#: dithering noise stays still where the picture does, and GIF frames store only
#: what changed. 12 is 2 levels on each channel, under the noise of a video source
#: (hello-anim at k = 32: the largest changed rectangle 11,726 px -> 2,940 of 14,400,
#: 9,396 undithered; 14.4 KB -> 9.3 KB, 10.0 KB undithered);
#: comparing with the color the row was made for lets a slow fade move on.
HOLD_CHANGE = 12


def _unchanged(made: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels within :data:`HOLD_CHANGE` of ``made``, the colors the
    previous frame's rows were made for (both (H, W, C) uint8)."""
    diff = pixels[..., :3].astype(np.int32) - made[..., :3]
    same = np.einsum("ijk,ijk->ij", diff, diff) <= HOLD_CHANGE
    if pixels.shape[2] == 4:
        same &= pixels[..., 3] == made[..., 3]
    return same


#: Dithered frames are diffused several at a time, laid out side by side in one image
#: of at most this many pixels (or one larger frame) with a transparent pixel between
#: them, which passes no error on: Floyd-Steinberg takes a numpy step per
#: anti-diagonal, and small frames have short ones (Pillow's a.fli, 384 frames of
#: 320x200, to GIF at k = 16: 30.4 s one by one, 10.9 s in mosaics; 2.0 s
#: undithered). The mosaic's frames are diffused together, each as an image of its
#: own (``tiles``): w + 2h steps, not those of the whole mosaic (advi-anim.gif, 46
#: frames of 69x76 at k = 64: map 0.16 -> 0.05 s). The clipping range and the
#: damping threshold are the mosaic's, so a frame's pixels depend a little on its
#: neighbours; the grouping depends on the frame size only, so the output is
#: deterministic.
MOSAIC_PIXELS = 4_000_000


class _DitheredFrames:
    """Frames dithered onto one palette, in mosaics (:data:`MOSAIC_PIXELS`), with
    pixels held from frame to frame (:data:`HOLD_CHANGE`).

    Held pixels take no part in the diffusion, so which pixels are held depends on
    the colors alone and a mosaic of consecutive frames can be dithered at once; each
    frame then takes the rows of the one before where it holds."""

    def __init__(
        self, palette: np.ndarray, table: ColorTable, s: CompressSettings,
        keep: np.ndarray | None, *, alpha: bool,
    ) -> None:  # fmt: skip
        self.palette, self.table, self.s, self.keep, self.alpha = palette, table, s, keep, alpha
        self.pending: list[tuple[int, np.ndarray, np.ndarray | None]] = []
        self.made: np.ndarray | None = None  # the colors the last rows were made for
        self.rows: np.ndarray | None = None  # the last frame's rows

    def add(self, number: int, keys: np.ndarray, pixels: np.ndarray) -> list:
        """Take frame ``number``; return the frames done (see :meth:`flush`)."""
        pixels = pixels.copy()
        made, hold = pixels.copy(), None
        if self.made is not None:
            exact = (self.palette[self.table.of_keys(keys)] == pixels).all(axis=2)
            hold = _unchanged(self.made, pixels) & ~exact
            made[hold] = self.made[hold]
        self.made = made
        done = []
        taken = sum(p.shape[0] * p.shape[1] for _, p, _ in self.pending)
        if self.pending and taken + pixels.shape[0] * pixels.shape[1] > MOSAIC_PIXELS:
            done = self.flush()  # at most MOSAIC_PIXELS a mosaic, or one larger frame
        self.pending.append((number, pixels, hold))
        return done

    def flush(self) -> list[tuple[int, Frame, Distortion, int]]:
        """Dither the frames taken: (number, frame, its distortion, visible pixels)."""
        if not self.pending:
            return []
        height, width = self.pending[0][1].shape[:2]
        if len(self.pending) == 1:  # a large frame alone: no mosaic, no alpha channel added
            mosaic, places, tiles = self.pending[0][1], [(0, 0)], None
        else:
            mosaic, places = _mosaic([p for _, p, _ in self.pending])
            tiles = (height, width)
        hold = np.zeros(mosaic.shape[:2], bool)
        for (_, _, held), (top, left) in zip(self.pending, places, strict=True):
            if held is not None:
                hold[top : top + height, left : left + width] = held
        s = self.s
        no_rows = np.zeros(hold.shape, np.int32)  # held rows come from the frame before
        prep = prepare(mosaic)
        onto = given(self.palette, prep.histogram(transparent_entry=self.alpha, keep=self.keep),
                     s.fit.space)  # fmt: skip
        q = remap(prep, onto, dither=s.dither, strength=s.strength, whole_palette=True,
                  hold=(hold, no_rows), tiles=tiles)  # fmt: skip
        # the transparent entry is last: the frames' own, or the mosaic's gaps'
        n_rows = q.palette.shape[0] - (q.transparent_index is not None)
        palette = q.palette if self.alpha else q.palette[:n_rows, : self.palette.shape[1]]
        dtype = index_dtype(palette.shape[0] + self.alpha)
        done = []
        for (number, pixels, held), (top, left) in zip(self.pending, places, strict=True):
            rows = q.indices[top : top + height, left : left + width].astype(dtype)
            if held is not None:
                rows[held] = self.rows[held]  # type: ignore[index]
            self.rows = rows
            visible = pixels[..., 3] > 0 if self.alpha else np.ones(rows.shape, bool)
            d = label_distortion(pixels[visible], q.palette, rows[visible])
            frame = (palette, rows, n_rows if self.alpha else None)
            done.append((number, frame, d, int(visible.sum())))
        self.pending = []
        return done


def _mosaic(frames: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Frames (H, W, C) uint8 side by side in rows, one transparent pixel apart, as
    an (H', W', 4) uint8 image, and each frame's (top, left). The number of columns
    makes the fewest anti-diagonals (``W' + 2 H'``)."""
    n = len(frames)
    height, width, channels = frames[0].shape
    cols = min(range(1, n + 1), key=lambda c: c * (width + 1) + 2 * -(-n // c) * (height + 1))
    rows = -(-n // cols)
    mosaic = np.zeros((rows * (height + 1) - 1, cols * (width + 1) - 1, 4), np.uint8)
    places = []
    for i, frame in enumerate(frames):
        top, left = (i // cols) * (height + 1), (i % cols) * (width + 1)
        mosaic[top : top + height, left : left + width, :channels] = frame
        if channels == 3:
            mosaic[top : top + height, left : left + width, 3] = 255
        places.append((top, left))
    return mosaic, places


def _through_table(keys: np.ndarray, table: ColorTable, palette: np.ndarray, alpha: bool) -> Frame:
    """A frame (its (H, W) keys) mapped through the table of every color's palette
    row: (palette, with the transparent entry last when the animation has alpha,
    (H, W) indices, the transparent entry or None), as :func:`kquant.quantize` with a
    whole palette."""
    if not alpha:
        return palette, table.of_keys(keys), None
    visible = keys > np.uint32(0xFFFFFF)
    indices = np.full(keys.shape, palette.shape[0], dtype=table.values.dtype)
    indices[visible] = table.of_keys(keys[visible])
    clear = np.zeros((1, palette.shape[1]), np.uint8)
    return np.vstack([palette, clear]), indices, palette.shape[0]


def _duration_of(result: AnimatedResult, number: int) -> int:
    return result.durations[number] if number < len(result.durations) else 0


def _used_colors(
    used: set[int], palette: np.ndarray, indices: np.ndarray, transparent: int | None
) -> set[int]:
    """``used`` with the visible colors of one frame added (as packed ints)."""
    rows = np.flatnonzero(np.bincount(indices.ravel(), minlength=palette.shape[0]))
    if transparent is not None:
        rows = rows[rows != transparent]
    colors = palette[rows].astype(np.uint32)
    keys = colors[:, 0] | colors[:, 1] << 8 | colors[:, 2] << 16
    used.update(keys.tolist())
    return used


def _encode_pillow(out_frames: list[Frame], fmt: str, result: AnimatedResult) -> bytes:
    """An animated WebP or APNG of the frames, by Pillow."""
    images = [_frame_image(palette, indices, fmt) for palette, indices, _ in out_frames]
    durations = [max(d, 1) for d in result.durations[: len(images)]]
    loop = 1 if result.loop is None else result.loop  # a GIF without a loop plays once
    buffer = io.BytesIO()
    first, rest = images[0], images[1:]
    if fmt == "WEBP":
        first.save(buffer, "WEBP", save_all=True, append_images=rest, duration=durations,
                   loop=loop, lossless=True, quality=100, method=4, exact=True)  # fmt: skip
    else:
        # Pillow folds a frame identical to the one before into its duration unless
        # the two dispose differently: such a frame restores the canvas it found
        # (OP_PREVIOUS), which is the same picture, so the frame count is kept
        from PIL.PngImagePlugin import Disposal

        disposal = [Disposal.OP_NONE]
        for before, after in itertools.pairwise(out_frames):
            same = np.array_equal(before[1], after[1]) and np.array_equal(before[0], after[0])
            flip = Disposal.OP_PREVIOUS if disposal[-1] == Disposal.OP_NONE else Disposal.OP_NONE
            disposal.append(flip if same else Disposal.OP_NONE)
        first.save(buffer, "PNG", save_all=True, append_images=rest, duration=durations,
                   loop=loop, disposal=disposal, optimize=False,
                   compress_level=6)  # fmt: skip
    return buffer.getvalue()


def _frame_image(palette: np.ndarray, indices: np.ndarray, fmt: str) -> Image.Image:
    """One frame for Pillow, kept until the whole animation is encoded: mode P with
    the palette (one byte a pixel) up to 256 entries, else the pixels. Pillow's WebP
    writer turns each P frame into pixels only while encoding it."""
    if palette.shape[0] > INDEXED_LIMIT:
        return Image.fromarray(palette[indices])
    if fmt == "PNG" and palette.shape[0] <= _APNG_SUBBYTE_ROWS:  # 8-bit indices: see there
        filler = np.zeros((_APNG_SUBBYTE_ROWS + 1 - palette.shape[0], palette.shape[1]))
        filler[:, 3:] = 255
        palette = np.vstack([palette, filler.astype(np.uint8)])
    im = Image.fromarray(indices.astype(np.uint8, copy=False), mode="L")
    im.putpalette(palette.tobytes(), rawmode="RGBA" if palette.shape[1] == 4 else "RGB")
    return im


#: Pillow writes palettes of up to 16 rows with 1-4 bits per index; ffmpeg 5.1 draws
#: such APNG frames wrongly where they sit at an offset (Pillow and libpng's apngdis
#: agree with each other), so animation palettes are padded past 16 rows (8 bits).
_APNG_SUBBYTE_ROWS = 16


def _frames_in(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as im:
        return int(getattr(im, "n_frames", 1))
