"""Colors as integer keys, and the histogram of an image's distinct colors.

A pixel of ``C`` uint8 channels (``C`` is 3 for RGB, 4 for RGBA) is packed into one
uint32 key, channel ``c`` in bits ``8c .. 8c+7``. Keys make counting and looking up
colors cheap: the histogram of distinct colors with their counts is what the
codebook is fitted on and what the pixel mapping works through, so both cost
O(distinct colors) rather than O(pixels) (a 4 MP photo has about 200k distinct
colors; a flat graphic a few hundred).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ColorHistogram", "color_histogram", "pack", "unpack"]

_SHIFTS = np.array([0, 8, 16, 24], dtype=np.uint32)


def pack(colors: np.ndarray) -> np.ndarray:
    """Pack colors into integer keys.

    Parameters
    ----------
    colors : (N, C) uint8 ndarray, C in {3, 4}

    Returns
    -------
    keys : (N,) uint32 ndarray
    """
    if colors.dtype != np.uint8 or colors.ndim != 2 or colors.shape[1] not in (3, 4):
        raise ValueError(f"expected (N, 3|4) uint8 colors, got {colors.shape} {colors.dtype}")
    keys = colors[:, 0].astype(np.uint32)
    for c in range(1, colors.shape[1]):
        keys |= colors[:, c].astype(np.uint32) << _SHIFTS[c]
    return keys


def unpack(keys: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of :func:`pack`.

    Parameters
    ----------
    keys : (N,) uint32 ndarray
    channels : int, 3 or 4

    Returns
    -------
    colors : (N, channels) uint8 ndarray
    """
    return ((keys[:, None] >> _SHIFTS[:channels]) & 0xFF).astype(np.uint8)


@dataclass(frozen=True)
class ColorHistogram:
    """Distinct colors of a set of pixels, with how often each occurs.

    Attributes
    ----------
    colors : (M, C) uint8 ndarray
        The distinct colors, sorted by key.
    counts : (M,) int64 ndarray
        How many pixels have each color; all positive.
    inverse : (N,) intp ndarray or None
        For each input pixel, the row of its color in ``colors``; ``None`` when it
        was not asked for.
    """

    colors: np.ndarray
    counts: np.ndarray
    inverse: np.ndarray | None = None

    @property
    def n_colors(self) -> int:
        return int(self.colors.shape[0])

    @property
    def n_pixels(self) -> int:
        return int(self.counts.sum())


def color_histogram(colors: np.ndarray, *, with_inverse: bool = False) -> ColorHistogram:
    """Count the distinct colors of a set of pixels.

    Parameters
    ----------
    colors : (N, C) uint8 ndarray, C in {3, 4}
    with_inverse : bool
        Also return, for each pixel, the index of its color in the histogram.

    Returns
    -------
    ColorHistogram
    """
    channels = colors.shape[1]
    keys = pack(colors)
    if with_inverse:
        distinct, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
    else:
        distinct, counts = np.unique(keys, return_counts=True)
        inverse = None
    return ColorHistogram(unpack(distinct, channels), counts.astype(np.int64), inverse)
