"""Floyd-Steinberg error diffusion onto a fixed palette, exact and with a strength.

Why not Pillow's (``Image.quantize(palette=..., dither=FLOYDSTEINBERG)``, in C)? It
finds colors through a cache of 6 bits per channel, so it is not always the nearest
palette color (measured: with entries (100,100,100) and (102,102,102) it maps
(103,103,103) to the first), it has no strength, and no alpha. This module does the
classic diffusion (7/16 right; 3/16, 5/16, 1/16 below-left, below, below-right; raster
order) in numpy.

Pixel (y, x) needs the error of (y, x-1) and of (y-1, x-1 .. x+1), so every pixel of
the anti-diagonal ``t = x + 2y`` can be handled at once once diagonals ``t-3 .. t-1``
are done: ``W + 2H`` vectorised steps instead of ``W x H`` scalar ones, with the
same result as the scalar loop. The error still to be added to each diagonal lives in
four rolling (H + 1, D) buffers, so the extra memory is O(H), not O(H x W).

Each step maps the pixels (their color plus diffused error, clipped to the color
range) to the nearest palette entry. For RGB the value is rounded to integers and the
nearest entry comes from :func:`kquant.mapping.nearest_index`, exact and with its
tie rule, through a lazily filled table of the colors met so far; other color spaces
(premultiplied RGBA) use float64 distances.
"""

from __future__ import annotations

import numpy as np

from kquant.colors import pack
from kquant.mapping import nearest_index

__all__ = ["floyd_steinberg"]

#: Weights of the error passed to (dy, dx) = (0, +1), (1, -1), (1, 0), (1, +1).
_RIGHT, _DOWN_LEFT, _DOWN, _DOWN_RIGHT = 7 / 16, 3 / 16, 5 / 16, 1 / 16


def floyd_steinberg(
    values: np.ndarray,
    palette: np.ndarray,
    *,
    strength: float = 1.0,
    skip: np.ndarray | None = None,
    low: np.ndarray | float = 0.0,
    high: np.ndarray | float = 255.0,
) -> np.ndarray:
    """Dither an image onto a palette by Floyd-Steinberg error diffusion.

    Parameters
    ----------
    values : (H, W, D) uint8 or float ndarray
        The image, in the space distances are measured in: uint8 RGB, or float
        points of another space (:func:`kquant.spaces.features`).
    palette : (P, D) ndarray, same space as ``values``
        uint8 when ``values`` is uint8.
    strength : float in [0, 1]
        Fraction of each pixel's error passed on; 0 gives the plain nearest-color
        mapping, 1 classic Floyd-Steinberg.
    skip : (H, W) bool ndarray or None
        Pixels left out (kquant's fully transparent ones): they take index -1 and
        pass no error on.
    low, high : float or (D,) ndarray
        Values plus diffused error are clipped to ``[low, high]`` (kquant passes
        the range of the image's own colors, so error cannot pile up beyond it).

    Returns
    -------
    index : (H, W) int32 ndarray
        Palette row of each pixel; -1 where ``skip``.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    height, width, depth = values.shape
    exact = values.dtype == np.uint8
    if exact and (palette.dtype != np.uint8 or depth != 3):
        raise ValueError("uint8 values must be RGB with a uint8 palette")
    pal = palette.astype(np.float64)
    if exact:
        table = np.full(1 << 24, -1, dtype=np.int32)  # 64 MB, zero pages until touched
        pal_sq = None
    else:
        pal_sq = (pal * pal).sum(axis=1)
    index = np.empty((height, width), dtype=np.int32)
    error = np.zeros((4, height + 1, depth), dtype=np.float64)
    rows = np.arange(height)
    for t in range(width + 2 * height - 2):
        y0 = max(0, (t - width + 2) // 2)  # rows whose x = t - 2y lies in [0, width)
        y1 = min(height - 1, t // 2) + 1
        ys = rows[y0:y1]
        xs = t - 2 * ys
        slot = error[t % 4]
        cur = values[ys, xs].astype(np.float64)
        cur += slot[y0:y1]
        slot[:] = 0.0
        np.clip(cur, low, high, out=cur)
        if exact:
            keys = pack(np.rint(cur).astype(np.uint8))
            idx = table[keys]
            missing = idx < 0
            if missing.any():
                new_keys = np.unique(keys[missing])
                table[new_keys] = nearest_index(_unpack_rgb(new_keys), palette)
                idx = table[keys]
        else:
            idx = np.argmin(pal_sq - 2.0 * (cur @ pal.T), axis=1).astype(np.int32)
        err = cur - pal[idx]
        if skip is not None:
            skipped = skip[ys, xs]
            if skipped.any():
                idx = np.where(skipped, -1, idx)
                err[skipped] = 0.0
        index[ys, xs] = idx
        if strength != 1.0:
            err *= strength
        error[(t + 1) % 4, y0:y1] += _RIGHT * err
        error[(t + 1) % 4, y0 + 1 : y1 + 1] += _DOWN_LEFT * err
        error[(t + 2) % 4, y0 + 1 : y1 + 1] += _DOWN * err
        error[(t + 3) % 4, y0 + 1 : y1 + 1] += _DOWN_RIGHT * err
    return index


def _unpack_rgb(keys: np.ndarray) -> np.ndarray:
    return ((keys[:, None] >> np.array([0, 8, 16], np.uint32)) & 0xFF).astype(np.uint8)
