"""Colors as integer keys, and histograms of an image's distinct colors.

A pixel of ``C`` uint8 channels (``C`` is 3 for RGB, 4 for RGBA) is packed into one
uint32 key, channel ``c`` in bits ``8c .. 8c+7``. Keys make counting and looking up
colors cheap: the histogram of distinct colors with their counts is what the
codebook is fitted on and what the pixel mapping works through, so both cost
O(distinct colors) rather than O(pixels) (a 4 MP photo has about 200k-450k distinct
colors; a flat graphic a few hundred).

Counting sorts the keys (faster here than ``np.bincount`` over 2**24 counters up to
at least 20 MP: fresh memory costs about 2 ms per MB to touch on the machines
measured, and the counters are 128 MB). Looking RGB pixels up uses a 2**24-entry
table of palette indices (16 MB for uint8); RGBA keys span 2**32, so RGBA looks up
with ``np.searchsorted``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

__all__ = ["BinnedHistogram", "ColorHistogram", "binned", "color_histogram", "lookup", "pack"]

_SHIFTS = np.array([0, 8, 16, 24], dtype=np.uint32)
_RGB_KEYS = 1 << 24
#: From this many pixels on, pixels are looked up through a 2**24-entry table.
_TABLE_MIN_PIXELS = 1 << 17
#: Pixels handled per block where a per-pixel temporary is needed.
_BLOCK = 1 << 20
#: Threads that sort parts of the keys, and the fewest pixels worth a part.
_SORT_THREADS = min(4, os.cpu_count() or 1)
_PARALLEL_MIN_PIXELS = 1 << 20


def pack(colors: np.ndarray) -> np.ndarray:
    """Pack colors into integer keys.

    Parameters
    ----------
    colors : (N, C) uint8 ndarray, C in {3, 4}

    Returns
    -------
    keys : (N,) uint32 ndarray
        Built block by block: 4 bytes a pixel and no more (a whole-array expression
        took three such arrays at once: 128 MB more at 16 MP).
    """
    if colors.dtype != np.uint8 or colors.ndim != 2 or colors.shape[1] not in (3, 4):
        raise ValueError(f"expected (N, 3|4) uint8 colors, got {colors.shape} {colors.dtype}")
    keys = np.empty(colors.shape[0], dtype=np.uint32)
    shifted = np.empty(min(colors.shape[0], _BLOCK), dtype=np.uint32)
    for start in range(0, colors.shape[0], _BLOCK):  # blocks: no full-size temporaries
        block, out = colors[start : start + _BLOCK], keys[start : start + _BLOCK]
        tmp = shifted[: out.size]
        np.copyto(out, block[:, 0])
        for c in range(1, colors.shape[1]):
            np.copyto(tmp, block[:, c])
            np.left_shift(tmp, _SHIFTS[c], out=tmp)
            np.bitwise_or(out, tmp, out=out)
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
    keys : (M,) uint32 ndarray
        Packed distinct colors (see :func:`pack`), sorted ascending.
    colors : (M, C) uint8 ndarray
        The same colors, unpacked.
    counts : (M,) int64 ndarray
        How many pixels have each color; all positive.
    """

    keys: np.ndarray
    colors: np.ndarray
    counts: np.ndarray

    @property
    def n_colors(self) -> int:
        return int(self.colors.shape[0])

    @property
    def n_pixels(self) -> int:
        return int(self.counts.sum())

    @property
    def channels(self) -> int:
        return int(self.colors.shape[1])


def color_histogram(colors: np.ndarray) -> ColorHistogram:
    """Count the distinct colors of a set of pixels.

    The keys are sorted in place (numpy's SIMD sort) and run-length counted; large
    inputs are split into one part per core, sorted in threads (numpy releases the
    GIL while sorting), and the parts' histograms merged. Extra memory is 4 bytes per
    pixel.

    Parameters
    ----------
    colors : (N, C) uint8 ndarray, C in {3, 4}

    Returns
    -------
    ColorHistogram
    """
    keys = pack(colors)
    n_parts = min(_SORT_THREADS, max(1, keys.size // _PARALLEL_MIN_PIXELS))
    parts = np.array_split(keys, n_parts)
    if n_parts > 1:
        with ThreadPoolExecutor(n_parts) as pool:
            runs = list(pool.map(_sorted_runs, parts))
        distinct = np.concatenate([d for d, _ in runs])
        counts = np.concatenate([c for _, c in runs])
        order = np.argsort(distinct, kind="stable")
        distinct, starts = _run_starts(distinct[order])
        counts = np.add.reduceat(counts[order], starts)
    else:
        distinct, counts = _sorted_runs(keys)
    return ColorHistogram(distinct, unpack(distinct, colors.shape[1]), counts.astype(np.int64))


def _sorted_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort ``keys`` in place; return its distinct values and their counts."""
    keys.sort()
    distinct, starts = _run_starts(keys)
    counts = np.diff(np.append(starts, keys.size))
    return distinct, counts


def _run_starts(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and the index where each run starts."""
    first = np.empty(sorted_keys.size, dtype=bool)
    first[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return sorted_keys[starts], starts


def lookup(hist: ColorHistogram, colors: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each pixel, the value attached to its color in ``hist``.

    Parameters
    ----------
    hist : ColorHistogram
        Must hold every color of ``colors``.
    colors : (N, C) uint8 ndarray
    values : (M,) ndarray
        One value per histogram row (e.g. a palette index).

    Returns
    -------
    (N,) ndarray of ``values.dtype``
    """
    out = np.empty(colors.shape[0], dtype=values.dtype)
    table = None
    if hist.channels == 3 and colors.shape[0] >= _TABLE_MIN_PIXELS:
        table = np.zeros(_RGB_KEYS, dtype=values.dtype)
        table[hist.keys] = values
    for start in range(0, colors.shape[0], _BLOCK):
        keys = pack(colors[start : start + _BLOCK])
        if table is not None:
            out[start : start + _BLOCK] = table[keys]
        else:
            out[start : start + _BLOCK] = values[np.searchsorted(hist.keys, keys)]
    return out


@dataclass(frozen=True)
class BinnedHistogram:
    """Colors grouped into cubic bins, each bin represented by its exact mean.

    k-means on bin means weighted by bin counts has the same objective as k-means on
    every pixel, up to a constant, whenever no bin is split between two clusters, so
    it is a close, much smaller stand-in for the full histogram.

    Attributes
    ----------
    means : (B, D) float64 ndarray
        Mean color of the pixels in each occupied bin, 0-255 scale (or mean point,
        when the colors are given as points of another space).
    weights : (B,) float64 ndarray
        Pixels in each bin.

    float64 because scikit-learn's k-means++ computes float32 distances through a
    float64 upcast, which made the first fit twice as slow.
    """

    means: np.ndarray
    weights: np.ndarray

    @property
    def n_points(self) -> int:
        return int(self.weights.shape[0])


def binned(hist: ColorHistogram, bits: int, points: np.ndarray | None = None) -> BinnedHistogram:
    """Group a histogram's colors into bins of ``2**(8 - bits)`` levels per channel.

    Parameters
    ----------
    hist : ColorHistogram
    bits : int, 1..8
        Bits kept per channel; 8 returns the histogram itself.
    points : (M, D) float64 ndarray or None
        What to average in each bin instead of the colors: the colors as points of
        another space (:func:`kquant.spaces.features`). Bins are still cubes of
        the uint8 colors.

    Returns
    -------
    BinnedHistogram
    """
    weights = hist.counts.astype(np.float64)
    if points is None:
        points = hist.colors.astype(np.float64)
    if bits >= 8:
        return BinnedHistogram(points, weights)
    q = (hist.colors >> (8 - bits)).astype(np.int64)
    key = q[:, 0].copy()
    for c in range(1, hist.channels):
        key |= q[:, c] << (bits * c)
    _, bin_of = np.unique(key, return_inverse=True)
    bin_of = bin_of.reshape(-1)
    w = np.bincount(bin_of, weights=weights)
    sums = [np.bincount(bin_of, weights=weights * points[:, c]) for c in range(points.shape[1])]
    means = np.stack(sums, axis=1) / w[:, None]
    return BinnedHistogram(means, w)
