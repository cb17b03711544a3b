"""GIF files as kquant reads and writes them: the extent of every frame, read from
the blocks before anything is decoded (:func:`gif_extent`), and animated GIFs
encoded frame by frame, storing only what changed (:class:`GifWriter`; the frame
data is Pillow's LZW encoder's).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from kquant.defaults import INDEXED_LIMIT

__all__ = ["GifWriter", "gif_extent"]


def gif_extent(source: Path | IO[bytes]) -> tuple[int, int]:
    """(width, height) holding a GIF's logical screen and every frame's extent, read
    from its blocks (image data skipped, nothing decoded) the way Pillow's GIF reader
    walks them (other bytes between blocks skipped one by one). A cut or malformed
    file gives what was read up to the cut (Pillow's decoding reports the damage)."""
    if isinstance(source, Path):
        with open(source, "rb") as fh:
            return _gif_blocks_extent(fh)
    position = source.tell()
    try:
        source.seek(0)
        return _gif_blocks_extent(source)
    finally:
        source.seek(position)


def _gif_blocks_extent(fh: IO[bytes]) -> tuple[int, int]:
    head = fh.read(13)
    if len(head) < 13 or head[:3] != b"GIF":
        return 0, 0
    width, height = struct.unpack("<2H", head[6:10])
    if head[10] & 0x80:  # global color table
        fh.seek(3 << ((head[10] & 7) + 1), io.SEEK_CUR)
    while (kind := fh.read(1)) not in (b"", b";"):
        if kind not in (b"!", b","):
            continue  # as Pillow does: bytes between blocks are skipped (two GIFs joined)
        if kind == b"!":
            fh.read(1)  # the extension's label
        else:
            descriptor = fh.read(9)
            if len(descriptor) < 9:
                break
            x, y, w, h = struct.unpack("<4H", descriptor[:8])
            width, height = max(width, x + w), max(height, y + h)
            if descriptor[8] & 0x80:  # local color table
                fh.seek(3 << ((descriptor[8] & 7) + 1), io.SEEK_CUR)
            fh.read(1)  # LZW minimum code size
        while (size := fh.read(1)) and size[0]:  # data sub-blocks
            fh.seek(size[0], io.SEEK_CUR)
    return width, height


class GifWriter:
    """An animated GIF, encoded frame by frame.

    Each frame stores only what changed: the rectangle around the pixels that differ
    from what is on screen, and inside it, unchanged pixels as transparent (long
    runs of one index compress well) where the palette has a transparent entry or a
    free one to make it; both ways are encoded and the smaller is kept. A frame is
    disposed to the background (transparent) only when the next frame makes pixels
    transparent that it showed; otherwise frames are left in place. A frame with no
    change is still written (one pixel), so the frame count and timing stay as they
    were. The first frame's palette is the global color table; a frame with other
    colors brings a local one (per-frame palettes).

    Parameters
    ----------
    width, height : int
    loop : int or None
        NETSCAPE loop count (0: forever); None: play once (no loop block).
    optimize : {2, 1, 0}
        2: as above; 1: changed rectangles only; 0: every frame whole (what the
        benchmark compares with).
    """

    def __init__(self, width: int, height: int, loop: int | None, optimize: int = 2) -> None:
        self.width, self.height, self.loop = width, height, loop
        self.optimize = optimize
        self.frames = 0
        self._global: np.ndarray | None = None
        self._chunks: list[bytes] = []
        self._canvas = np.zeros((height, width), np.uint32)  # what is on screen, RGBA
        self._pending: tuple | None = None
        self._ms = self._cs = 0  # time so far, exact and as written in 1/100 s

    def add(
        self, palette: np.ndarray, indices: np.ndarray, transparent: int | None, duration: int
    ) -> None:
        """Add a frame: (H, W) indices into ``palette`` (P <= 256, C) uint8, whose row
        ``transparent`` (if any) is transparent; ``duration`` in ms."""
        rows = _gif_rows(palette, transparent)
        # GIF counts hundredths of a second: each delay is rounded so that the time
        # elapsed stays within 5 ms of the source's (125 ms frames: 120, 130, 120...)
        self._ms += duration
        delay = round(self._ms / 10) - self._cs
        self._cs += delay
        shown = rows.view(np.uint32).reshape(-1)[indices]  # RGBA as one uint32; 0: clear
        frame = (rows, indices.astype(np.uint8, copy=False), shown, 10 * delay)
        if self._pending is not None:
            self._write(self._pending, frame)
        self._pending = frame

    def finish(self) -> bytes:
        """The whole file."""
        if self._pending is not None:
            self._write(self._pending, None)
            self._pending = None
        rows = self._global if self._global is not None else np.zeros((2, 4), np.uint8)
        table = _color_table(rows)
        head = b"GIF89a" + self.width.to_bytes(2, "little") + self.height.to_bytes(2, "little")
        head += bytes([0x80 | (_table_bits(rows.shape[0]) - 1), 0, 0]) + table
        if self.loop is not None:
            head += b"!\xff\x0bNETSCAPE2.0\x03\x01" + int(self.loop).to_bytes(2, "little") + b"\0"
        return head + b"".join(self._chunks) + b";"

    def _write(self, frame: tuple, following: tuple | None) -> None:
        from PIL.GifImagePlugin import getdata

        rows, indices, colors, duration = frame
        first = self._global is None
        if first:
            self._global = rows
        changed = colors != self._canvas
        whole = first or self.optimize == 0
        rect = (0, 0, self.width, self.height) if whole else _bbox(changed)
        disposal = 1
        if following is not None:  # pixels it shows that the next one makes transparent
            clear = (following[2] == 0) & (colors != 0)
            if clear.any():
                disposal, rect = 2, _union(rect, _bbox(clear))
        rect = rect or (0, 0, 1, 1)
        free = _transparent_row(rows)
        x0, y0, x1, y1 = rect
        crop = indices[y0:y1, x0:x1]
        tries = [crop]
        if free is not None and not first and self.optimize >= 2:
            masked = crop.copy()
            masked[~changed[y0:y1, x0:x1]] = free
            tries.append(masked)
        local = self._global is None or not np.array_equal(rows, self._global)
        params: dict = {"duration": duration, "disposal": disposal, "include_color_table": local}
        if free is not None:
            params["transparency"] = free
        encoded = []
        for data in tries:
            im = Image.fromarray(np.ascontiguousarray(data), mode="L")
            im.putpalette(rows[:, :3].tobytes(), rawmode="RGB")
            encoded.append(b"".join(getdata(im, offset=(x0, y0), **params)))
        self._chunks.append(min(encoded, key=len))
        self.frames += 1
        self._canvas = colors.copy()
        if disposal == 2:
            self._canvas[y0:y1, x0:x1] = 0


def _gif_rows(palette: np.ndarray, transparent: int | None) -> np.ndarray:
    """(P', 4) RGBA rows of a frame's palette: the transparent row (0, 0, 0, 0),
    every other row opaque (GIF has 1-bit alpha); with no transparent row and fewer
    than 256, one is added, for unchanged pixels."""
    rgba = np.full((palette.shape[0], 4), 255, np.uint8)
    rgba[:, :3] = palette[:, :3]
    if transparent is not None:
        rgba[transparent] = 0
    elif rgba.shape[0] < INDEXED_LIMIT:
        rgba = np.vstack([rgba, np.zeros((1, 4), np.uint8)])
    return rgba


def _color_table(rows: np.ndarray) -> bytes:
    """A GIF color table of RGBA ``rows``: RGB, padded to a power of two entries."""
    rgb = rows[:, :3].tobytes()
    return rgb + b"\0" * (3 * (1 << _table_bits(rows.shape[0])) - len(rgb))


def _transparent_row(rgba: np.ndarray) -> int | None:
    rows = np.flatnonzero(rgba[:, 3] == 0)
    return int(rows[0]) if rows.size else None


def _table_bits(entries: int) -> int:
    """Bits of a GIF color table holding ``entries`` (at least 2 entries: 1 bit)."""
    return max(1, int(entries - 1).bit_length())


Rect = tuple[int, int, int, int]


def _bbox(mask: np.ndarray) -> Rect | None:
    """(x0, y0, x1, y1) around the True pixels; None if there are none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _union(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
