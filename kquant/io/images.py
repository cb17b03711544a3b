"""Reading images into arrays and writing quantized images, with Pillow.

Reading (:func:`load_image`) applies the EXIF orientation, takes the first frame of
an animation, and converts every Pillow mode to 8-bit RGB or RGBA:

- ``1``, ``L``, ``P`` with a gray palette, 16-bit ``I;16*``, ``I`` and ``F`` become
  gray RGB (R = G = B), flagged ``grayscale``. 16-bit data is scaled (v / 257,
  rounded), not clipped as Pillow's own ``convert("L")`` does; ``I`` and ``F`` are
  taken as 16-bit when their maximum exceeds 255, and ``F`` as 0-1 when its maximum
  is at most 1.
- ``LA``, ``PA``, ``RGBA``, ``P`` with transparency become RGBA; an alpha channel
  that is 255 everywhere is dropped.
- ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` become RGB through Pillow.

Writing (:func:`save_quantized`) picks the format from the suffix. PNG, GIF, TIFF
and BMP hold the palette itself (mode ``P``) when it fits in 256 entries; WebP is
written lossless; JPEG is lossy, so its distortion must be measured on the file
(the caller does). The file is written to a temporary name in the output folder and
then moved into place, so an interrupted run never leaves a partial file, and an
existing file is replaced only when asked.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from kquant.core.memory import check_memory
from kquant.defaults import DEFAULT_MAX_PIXELS
from kquant.errors import (
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    OutputExistsError,
    UsageError,
)
from kquant.io.decoding import reading

__all__ = [
    "FORMATS",
    "LoadedImage",
    "format_for",
    "load_image",
    "pixels_from_pil",
    "save_quantized",
    "write_atomically",
]


#: Output suffix -> Pillow format name.
FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".gif": "GIF",
    ".webp": "WEBP",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}

#: Formats that keep the palette and can be written as mode P.
_INDEXED = {"PNG", "GIF", "TIFF", "BMP"}
#: Formats that cannot store transparency.
_NO_ALPHA = {"JPEG"}
#: Formats whose palette holds at most 256 entries, with no RGB fallback.
_PALETTE_ONLY = {"GIF"}

_GRAY_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


@dataclass(frozen=True)
class LoadedImage:
    """An image read from a file, as 8-bit pixels.

    Attributes
    ----------
    pixels : (H, W, 3) or (H, W, 4) uint8 ndarray
        RGB, or RGBA when the image has some alpha below 255.
    path : Path
    format : str or None
        Pillow's name of the file format (``"JPEG"``, ``"PNG"``, ...).
    mode : str
        Pillow mode of the file (``"RGB"``, ``"P"``, ``"I;16"``, ...).
    grayscale : bool
        The source had no color channels.
    frames : int
        Frames in the file; only the first is read.
    icc_profile : bytes or None
        Embedded ICC profile, carried over to outputs that can hold it.
    bytes : int
        Size of the file.
    dpi : (float, float) or None
        Physical resolution (PNG pHYs, JPEG JFIF, TIFF), in the orientation of
        ``pixels``; carried over to outputs that can hold it.
    notes : tuple of str
        What reading changed, for the report (NaN or infinite samples made black).
    """

    pixels: np.ndarray
    path: Path
    format: str | None
    mode: str
    grayscale: bool
    frames: int
    icc_profile: bytes | None
    bytes: int
    dpi: tuple[float, float] | None = None
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] == 4


def format_for(path: str | os.PathLike[str]) -> str:
    """Pillow format name for an output path, from its suffix.

    Raises
    ------
    UsageError
        For a suffix kquant does not write.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted({s for s in FORMATS if s not in (".jpeg", ".tiff")}))
        raise UsageError(
            f"{path}: cannot tell the output format from suffix {suffix or '(none)'!r}; "
            f"use one of {known}" + ("" if suffix else f" (a folder: {path}/)")
        )
    return FORMATS[suffix]


def load_image(
    path: str | os.PathLike[str] | IO[bytes],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str = "-",
    on_header: Callable[[int], None] | None = None,
) -> LoadedImage:
    """Read an image file into 8-bit RGB(A) pixels.

    Parameters
    ----------
    path : path-like or binary file object
        A file object (e.g. ``io.BytesIO`` of what came on stdin) is read from its
        current position; ``name`` then stands for it in messages and in ``path``.
    name : str
        Name of a file object, for messages.
    max_pixels : int or None
        Refuse images with more pixels than this (decompression-bomb guard), before
        decoding them. None for no limit.
    on_header : callable or None
        Called with the number of pixels once the header is read and accepted,
        before decoding (the caller may start work that should overlap decoding).

    Returns
    -------
    LoadedImage

    Raises
    ------
    ImageReadError
        Missing, unreadable, empty, truncated, or not an image.
    ImageTooLargeError
        More pixels than ``max_pixels``.
    """
    source, path, size = open_source(path, name)
    with reading(path, source), Image.open(source) as im:
        width, height = check_size(im, path, max_pixels)
        if on_header is not None:
            on_header(width * height)
        fmt, mode = im.format, im.mode
        frames = int(getattr(im, "n_frames", 1))
        icc = im.info.get("icc_profile") or None
        dpi, dpi_notes = _dpi(im)
        im.load()
        if fmt == "PNG" and frames == 1:
            _check_png_complete(path, source)
        notes = _nonfinite_note(im) + dpi_notes
        ImageOps.exif_transpose(im, in_place=True)  # no copy when nothing to do
        pixels, grayscale = pixels_from_pil(im)
    return LoadedImage(
        pixels=pixels,
        path=path,
        format=fmt,
        mode=mode,
        grayscale=grayscale,
        frames=frames,
        icc_profile=icc,
        bytes=size,
        dpi=dpi,
        notes=notes,
    )


def open_source(
    path: str | os.PathLike[str] | IO[bytes], name: str = "-"
) -> tuple[Path | IO[bytes], Path, int]:
    """What to hand ``Image.open``, the path for messages, and the file's size (-1
    for a stream of unknown size), after refusing what is not a readable, non-empty
    regular file.

    Raises
    ------
    ImageReadError
    """
    if hasattr(path, "read"):
        source = path
        size = len(source.getbuffer()) if hasattr(source, "getbuffer") else -1
        path = Path(name)
    else:
        source = path = Path(path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise ImageReadError(f"{path}: no such file") from None
        except OSError as exc:
            raise ImageReadError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if path.is_dir():
            raise ImageReadError(f"{path}: is a directory, not an image file")
        if not stat.S_ISREG(path.stat().st_mode):
            raise ImageReadError(f"{path}: not a regular file (a pipe or a device)")
    if size == 0:
        raise ImageReadError(f"{path}: empty file")
    return source, path, size  # type: ignore[return-value]


def check_size(
    im: Image.Image,
    path: Path,
    max_pixels: int | None,
    *,
    size: tuple[int, int] | None = None,
    what: str = "image is",
) -> tuple[int, int]:
    """(width, height) of an opened image (or ``size``, a canvas the image will need),
    refusing more than ``max_pixels`` pixels or more than memory holds, before
    anything is decoded. ``what`` starts the message ("a frame reaches").

    Raises
    ------
    ImageTooLargeError, NotEnoughMemoryError
    """
    width, height = size or im.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{path}: {what} {width}x{height} = {width * height:,} pixels, "
            f"above the limit of {max_pixels:,} (decompression-bomb guard)",
            pixels=width * height,
            limit=max_pixels,
        )
    check_memory(path, width, height)
    return width, height


class TruncatedImageError(ImageReadError):
    """The file holds fewer rows than its header announces."""


#: Samples per pixel of each PNG color type.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: Adam7 passes: first column, first row, column step, row step.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
          (0, 1, 1, 2))  # fmt: skip


def _check_png_complete(path: Path, source: Path | IO[bytes]) -> None:
    """Refuse a PNG whose image data ends before its last row.

    Pillow decodes a PNG whose compressed data is well formed but short (10 of 100
    rows) without a word and leaves the missing rows black; this counts the
    decompressed bytes against what the header announces. The file is read again
    chunk by chunk (other chunks skipped, nothing decompressed kept); a file object
    that cannot seek back is not checked.

    Raises
    ------
    TruncatedImageError
    """
    if isinstance(source, Path):
        with open(source, "rb") as fh:
            _check_png_chunks(path, fh)
    elif source.seekable():
        source.seek(0)
        _check_png_chunks(path, source)


def _png_expected_bytes(header: bytes) -> tuple[int, int, int]:
    """(decompressed bytes, bytes per row, rows) that an IHDR body announces."""
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    bits = header[8] * _PNG_CHANNELS.get(header[9], 4)
    passes = _ADAM7 if header[12] == 1 else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        w, h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if w > 0 and h > 0:
            expected += h * (1 + -(-(w * bits) // 8))
    return expected, 1 + -(-(width * bits) // 8), height


def _check_png_chunks(path: Path, fh: IO[bytes]) -> None:
    fh.read(8)  # signature
    expected = None
    inflate = zlib.decompressobj()
    got = 0
    try:
        while len(head := fh.read(8)) == 8:
            length, kind = int.from_bytes(head[:4], "big"), head[4:]
            if kind == b"IEND":
                break
            if kind == b"IHDR":
                expected, row_bytes, height = _png_expected_bytes(fh.read(length))
            elif kind == b"IDAT" and expected is not None:
                got += len(inflate.decompress(fh.read(length), 1 << 20))
                while inflate.unconsumed_tail and got < expected:
                    got += len(inflate.decompress(inflate.unconsumed_tail, 1 << 20))
                if got >= expected:
                    return
            else:
                fh.seek(length, io.SEEK_CUR)
            fh.seek(4, io.SEEK_CUR)  # CRC
    except zlib.error:
        return  # Pillow decoded it; corrupt data beyond that is its business
    if expected is not None and got < expected:
        raise TruncatedImageError(
            f"{path}: truncated image data: the file holds {got // row_bytes} of {height} rows"
        )


def _nonfinite_note(im: Image.Image) -> tuple[str, ...]:
    """A note when a float image has NaN or infinite samples (made black)."""
    if im.mode != "F":
        return ()
    bad = int((~np.isfinite(np.asarray(im))).sum())
    return (f"{bad:,} NaN or infinite samples made black",) if bad else ()


#: EXIF orientations that swap width and height.
_TRANSPOSING = frozenset({5, 6, 7, 8})


#: The resolutions kept, in dots per inch: what every output format can store (JPEG
#: holds whole numbers up to 65535; PNG and BMP pixels per meter need at least 1 dpi
#: to be above 0).
DPI_RANGE = (1.0, 65535.0)


def _dpi(im: Image.Image) -> tuple[tuple[float, float] | None, tuple[str, ...]]:
    """The resolution Pillow read, as (x, y) dpi after the EXIF orientation, and a
    note when it is outside :data:`DPI_RANGE` (a corrupt header's 4294967295 dpi):
    such a resolution is dropped, not written (it does not fit PNG's pHYs or BMP's
    header, and means nothing)."""
    dpi = im.info.get("dpi")
    try:
        x, y = (float(v) for v in dpi)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None, ()
    if not (x > 0 and y > 0):
        return None, ()
    low, high = DPI_RANGE
    if not (low <= x <= high and low <= y <= high):
        return None, (f"resolution {x:.10g}x{y:.10g} dpi is out of range: not kept",)
    if im.getexif().get(0x0112) in _TRANSPOSING:
        x, y = y, x
    return (x, y), ()


def pixels_from_pil(im: Image.Image) -> tuple[np.ndarray, bool]:
    """Convert a Pillow image of any mode to 8-bit RGB or RGBA pixels.

    Returns
    -------
    pixels : (H, W, 3) or (H, W, 4) uint8 ndarray
    grayscale : bool
        The source had no color channels.
    """
    mode = im.mode
    if mode == "P":
        has_alpha = "transparency" in im.info or bool(im.palette and im.palette.mode == "RGBA")
        rgb = _array_in_strips(im, "RGBA" if has_alpha else "RGB")
        gray = bool(
            np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
        )
        return _drop_opaque_alpha(rgb), gray
    if mode == "PA":
        return _drop_opaque_alpha(_array_in_strips(im, "RGBA")), False
    if mode in _GRAY_MODES:
        alpha = np.asarray(im.getchannel("A")) if mode in ("LA", "La") else None
        if mode == "La":
            im = im.convert("LA")
        luma = _gray_to_uint8(im if alpha is None else im.getchannel("L"))
        channels: list[np.ndarray] = [luma, luma, luma] + ([] if alpha is None else [alpha])
        return _drop_opaque_alpha(np.stack(channels, axis=2)), True
    if mode in ("RGBA", "RGBa"):
        return _drop_opaque_alpha(_array_in_strips(im, "RGBA")), False
    return _array_in_strips(im, "RGB"), False


#: Pixels per strip in :func:`_array_in_strips` (256k: faster than larger strips).
_STRIP_PIXELS = 1 << 18


def _array_in_strips(im: Image.Image, mode: str) -> np.ndarray:
    """``im`` converted to ``mode`` ("RGB" or "RGBA") as an (H, W, len(mode)) uint8
    array, filled strip by strip. Neither ``np.asarray(im)`` (Pillow's whole-image
    bytes, joined from chunks: twice the array at its peak, +91 MB against +48 MB
    on a 16 MP photo) nor ``im.convert()`` (a whole converted copy) is made.
    """
    width, height = im.size
    out = np.empty((height, width, len(mode)), dtype=np.uint8)
    rows = max(1, _STRIP_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        strip = im.crop((0, top, width, min(height, top + rows)))
        out[top : top + rows] = np.asarray(strip if strip.mode == mode else strip.convert(mode))
    return out


def _gray_to_uint8(im: Image.Image) -> np.ndarray:
    """(H, W) uint8 from a one-channel image of any bit depth (see module doc)."""
    if im.mode in ("1", "L"):
        return np.asarray(im.convert("L"))
    values = np.asarray(im).astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():  # NaN and inf: left out of the scaling, then black
        values = np.where(finite, values, 0.0)
    if im.mode.startswith("I;16"):
        scale = 257.0
    else:
        vmax = float(values.max()) if values.size else 0.0
        scale = 257.0 if vmax > 255 else (1.0 / 255.0 if im.mode == "F" and vmax <= 1 else 1.0)
    return np.clip(np.rint(values / scale), 0, 255).astype(np.uint8)


#: Alpha at or above this is opaque, below it transparent, in formats with 1-bit alpha.
GIF_ALPHA_THRESHOLD = 128


def one_bit_alpha(pixels: np.ndarray) -> tuple[np.ndarray, bool]:
    """(H, W, C) uint8 pixels with alpha made 0 or 255 at :data:`GIF_ALPHA_THRESHOLD`
    (GIF has 1-bit transparency), and whether anything changed (a copy then)."""
    if pixels.shape[2] != 4:
        return pixels, False
    alpha = pixels[..., 3]
    if not np.any((alpha > 0) & (alpha < 255)):
        return pixels, False
    pixels = pixels.copy()
    pixels[..., 3] = np.where(alpha >= GIF_ALPHA_THRESHOLD, 255, 0)
    return pixels, True


def _drop_opaque_alpha(pixels: np.ndarray) -> np.ndarray:
    if pixels.shape[2] == 4 and bool((pixels[..., 3] == 255).all()):
        return np.ascontiguousarray(pixels[..., :3])
    return np.ascontiguousarray(pixels)


def to_pil(palette: np.ndarray, indices: np.ndarray, fmt: str) -> Image.Image:
    """The Pillow image to write for a palette and an index image.

    Parameters
    ----------
    palette : (P, C) uint8 ndarray, C in {3, 4}
    indices : (H, W) uint8 or uint16 ndarray
    fmt : str
        Pillow format name; decides between mode P and RGB(A).

    Raises
    ------
    UsageError
        The format cannot hold this palette (transparency in JPEG, more than 256
        colors in GIF).
    """
    channels = palette.shape[1]
    if channels == 4 and fmt in _NO_ALPHA:
        raise UsageError(f"{fmt} cannot store transparency; write .png, .webp, .gif or .tif")
    if palette.shape[0] > 256 and fmt in _PALETTE_ONLY:
        raise UsageError(f"{fmt} holds at most 256 colors, not {palette.shape[0]}")
    indexed = fmt in _INDEXED and palette.shape[0] <= 256
    if indexed and channels == 4 and fmt in ("TIFF", "BMP"):
        indexed = False  # Pillow cannot write a palette with alpha to these
    if not indexed:
        return Image.fromarray(palette[indices])
    im = Image.fromarray(indices.astype(np.uint8, copy=False), mode="L")
    im.putpalette(palette.tobytes(), rawmode="RGBA" if channels == 4 else "RGB")
    return im


#: Pillow writes palettes of up to 16 entries with 1, 2 or 4 bits per pixel and then
#: (Pillow 13) applies adaptive row filters, meant for photos, not indices. On those
#: rows zlib's run-length strategy beat the default on all 21 corpus images at k=16
#: (5.50 -> 5.21 MB, and 4x faster), but lost on a synthetic image of 6x6 blocks of
#: random colors (1913 vs 1725 bytes), so both are tried and the smaller is kept.
_PNG_SUBBYTE_COLORS = 16


def _save_options(fmt: str, im: Image.Image, transparent_index: int | None) -> dict:
    opts: dict = {}
    if fmt == "PNG":
        opts["optimize"] = False
        opts["compress_level"] = 6
    elif fmt == "GIF":
        if transparent_index is not None:
            opts["transparency"] = transparent_index
        opts["optimize"] = False
    elif fmt == "WEBP":
        opts.update(lossless=True, quality=100, method=4, exact=True)
    elif fmt == "JPEG":
        opts.update(quality=95, subsampling=0)
    elif fmt == "TIFF":
        opts["compression"] = "tiff_adobe_deflate"
    return opts


def save_quantized(
    path: str | os.PathLike[str] | IO[bytes],
    palette: np.ndarray,
    indices: np.ndarray,
    *,
    fmt: str | None = None,
    transparent_index: int | None = None,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    overwrite: bool = False,
    max_bytes: int | None = None,
    optimize: int = 0,
) -> int:
    """Write a quantized image atomically.

    The image is encoded into a temporary file in the output folder, then moved into
    place (replacing an existing file only with ``overwrite``). On any error or
    interruption the temporary file is removed and nothing else is touched.

    Parameters
    ----------
    path : path-like or binary file object
        Output file; its suffix picks the format (see :data:`FORMATS`). A file
        object (e.g. stdout) gets the whole encoded image in one write, once it is
        complete.
    fmt : str or None
        Pillow format name, for a file object (default PNG) or to override the
        suffix.
    palette : (P, C) uint8 ndarray
    indices : (H, W) uint8 or uint16 ndarray
    transparent_index : int or None
        Palette row of fully transparent pixels (needed by GIF).
    icc_profile : bytes or None
        Written into formats that hold one (PNG, JPEG, WebP, TIFF).
    dpi : (float, float) or None
        Physical resolution, written into formats that hold one (PNG, JPEG, TIFF,
        BMP).
    overwrite : bool
    max_bytes : int or None
        If the encoded file is larger than this, it is not moved into place (nothing
        is written); the caller sees that from the returned size.
    optimize : int, 0 to 6
        PNG only: run oxipng (:func:`optimize_png`) at this level on the encoded
        bytes, before they are written; 0 does not.

    Returns
    -------
    int
        Size of the encoded file in bytes.

    Raises
    ------
    UsageError
        Unknown suffix, or a format that cannot hold the palette.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    ImageWriteError
        The folder is missing or not writable, or writing failed.
    """
    stream = cast("IO[bytes]", path) if hasattr(path, "write") else None
    target = None if stream is not None else Path(cast("str | os.PathLike[str]", path))
    fmt = fmt or ("PNG" if target is None else format_for(target))
    data = _encoded(to_pil(palette, indices, fmt), fmt, transparent_index, icc_profile, dpi,
                    optimize)  # fmt: skip
    if stream is not None:
        if max_bytes is None or len(data) <= max_bytes:
            stream.write(data)
            stream.flush()
        return len(data)
    assert target is not None
    return write_atomically(
        target, lambda fh: fh.write(data), overwrite=overwrite, max_bytes=max_bytes
    )


def _encoded(
    im: Image.Image,
    fmt: str,
    transparent_index: int | None,
    icc_profile: bytes | None,
    dpi: tuple[float, float] | None,
    optimize: int,
) -> bytes:
    """The bytes :func:`save_quantized` writes: ``im`` in ``fmt`` with the ICC profile
    and resolution where the format holds them, through oxipng when asked (PNG)."""
    opts = _save_options(fmt, im, transparent_index)
    if icc_profile and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        opts |= _profile_options(fmt, icc_profile)
    if dpi and fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        opts["dpi"] = dpi
    if optimize and fmt == "PNG":  # oxipng deflates again: Pillow's effort would be lost
        return optimize_png(_encode(im, fmt, opts | {"compress_level": 1}, fast=True), optimize)
    return _encode(im, fmt, opts)


def _profile_options(fmt: str, icc_profile: bytes) -> dict:
    """How a file keeps its ICC profile: as itself, or in a PNG an sRGB profile as
    PNG's 13-byte sRGB chunk (:func:`kquant.io.profiles.srgb_intent`)."""
    from kquant.io.profiles import srgb_intent

    intent = srgb_intent(icc_profile) if fmt == "PNG" else None
    if intent is None:
        return {"icc_profile": icc_profile}
    info = PngImagePlugin.PngInfo()
    info.add(b"sRGB", bytes([intent]))
    return {"pnginfo": info}


def optimize_png(data: bytes, level: int) -> bytes:
    """PNG bytes made smaller by oxipng (``pyoxipng``) at ``level`` (1-6), losslessly:
    the decoded pixels and the ICC and pHYs chunks stay; the result is the same for
    the same input (oxipng tries its filters and deflate settings in parallel but
    keeps the smallest by a fixed rule). Measured, docs/BENCHMARKS.md: level 2 (oxipng's
    default) 4-18% smaller than Pillow's encoding, about 1 s on a 4 MP photo. Its
    result does not depend on how the input was deflated, so the caller hands it a
    quick zlib level 1 encoding (0.13 s saved at 4 MP, 0.7 s at 20 MP)."""
    import oxipng

    optimized = oxipng.optimize_from_memory(data, level=level)
    return optimized if len(optimized) < len(data) else data


def _encode(im: Image.Image, fmt: str, opts: dict, *, fast: bool = False) -> bytes:
    """The encoded file; for PNGs of at most :data:`_PNG_SUBBYTE_COLORS` palette
    entries, the smaller of zlib's default and run-length strategies (not ``fast``)."""
    tries = [opts]
    small = im.mode == "P" and len(im.getpalette() or ()) <= 3 * _PNG_SUBBYTE_COLORS
    if fmt == "PNG" and small and not fast:
        tries.append(opts | {"compress_type": zlib.Z_RLE})
    encoded = []
    for options in tries:
        buffer = io.BytesIO()
        im.save(buffer, format=fmt, **options)
        encoded.append(buffer.getvalue())
    return min(encoded, key=len)


def write_atomically(
    path: Path,
    write: Callable[[IO[bytes]], object],
    *,
    overwrite: bool = False,
    max_bytes: int | None = None,
) -> int:
    """Write a file through a temporary file in its folder, then move it into place.

    ``write`` gets the open temporary file. The result replaces an existing file
    only with ``overwrite`` (otherwise ``os.link``, which fails if the name appeared
    meanwhile); with ``max_bytes``, a larger result is not moved into place. On any
    error or interruption the temporary file is removed and nothing else changes.

    Returns
    -------
    int
        Bytes written to the temporary file.

    Raises
    ------
    OutputExistsError, ImageWriteError
    """
    check_writable(path, overwrite=overwrite)
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".kquant-tmp", dir=folder)
    except OSError as exc:
        raise ImageWriteError(f"{path}: cannot write in {folder}: {exc.strerror}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        _apply_umask(tmp)
        nbytes = tmp.stat().st_size
        if max_bytes is None or nbytes <= max_bytes:
            _move_into_place(tmp, path, overwrite=overwrite)
    except OSError as exc:
        raise ImageWriteError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return nbytes


def check_writable(path: Path, *, overwrite: bool) -> None:
    """Fail early, before any work, if ``path`` cannot be written.

    Raises
    ------
    OutputExistsError, ImageWriteError
    """
    folder = path.parent
    if not folder.is_dir():
        raise ImageWriteError(f"{path}: output folder {folder} does not exist")
    if path.is_dir():
        raise ImageWriteError(f"{path}: is a directory")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists", path=Path(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImageWriteError(f"{path}: output folder {folder} is not writable")


def _apply_umask(path: Path) -> None:
    """mkstemp creates files 0600; give the output the usual 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _move_into_place(tmp: Path, path: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path appeared meanwhile: never clobber
    except FileExistsError:
        raise OutputExistsError(f"{path}: already exists", path=Path(path)) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():
            raise OutputExistsError(f"{path}: already exists", path=Path(path)) from None
        os.replace(tmp, path)
