"""Colors as integer keys, and histograms of an image's distinct colors.

A pixel of ``C`` uint8 channels (``C`` is 3 for RGB, 4 for RGBA) is packed into one
uint32 key, channel ``c`` in bits ``8c .. 8c+7``. Keys make counting and looking up
colors cheap: the histogram of distinct colors with their counts is what the
codebook is fitted on and what the pixel mapping works through, so both cost
O(distinct colors) rather than O(pixels) (a 4 MP photo has about 200k-450k distinct
colors; a flat graphic a few hundred).

Counting sorts the keys block by block and merges the blocks' counts; from 2 MP on,
RGB pixels are counted instead through a 16 MB table of which of the 2**24 colors
occur, then a rank bitmap that numbers them (faster than sorting, and a fixed ~25 MB
plus the result where merging a photo's many colors took 50-60 MB at 16 MP;
``np.bincount`` over 2**24 counters would be 128 MB, and fresh memory costs about
2 ms per MB to touch on the machines measured). Looking RGB pixels up goes through
a 16 MB table of values, or above 4 MP the 4 MB rank bitmap; RGBA keys span 2**32,
so RGBA looks up with ``np.searchsorted``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BinnedHistogram",
    "ColorHistogram",
    "ColorTable",
    "binned",
    "color_histogram",
    "keys_histogram",
    "lookup",
    "merge_histograms",
    "pack",
]

_SHIFTS = np.array([0, 8, 16, 24], dtype=np.uint32)
_RGB_KEYS = 1 << 24
#: From this many pixels on, RGB pixels are looked up through a table of values, and
#: from the second on through a rank bitmap.
_TABLE_MIN_PIXELS = 1 << 17
_BITMAP_MIN_PIXELS = 4_000_000
#: Pixels handled per block where a per-pixel temporary is needed, and per block of
#: :func:`lookup` (smaller: its temporaries add to the table and the output).
_BLOCK = 1 << 20
_LOOKUP_BLOCK = 1 << 16
#: Pixels counted per block by :func:`color_histogram`.
_HIST_BLOCK = 1 << 20
#: From this many pixels on, RGB colors are counted through a table of the colors
#: present (:func:`_dense_rgb_counts`). Measured on a resized photo: 2 MP 40 against
#: 100 ms, 4 MP 69 against 176 ms, 16 MP 0.30 against 0.80 s; below 1 MP the 16 MB
#: table costs more than it saves.
_DENSE_MIN_PIXELS = 1 << 21


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
    colors = np.empty((keys.shape[0], channels), dtype=np.uint8)
    for c in range(channels):  # a channel at a time: no (N, channels) wide temporaries
        colors[:, c] = keys >> _SHIFTS[c]  # the low byte: uint8 keeps it
    return colors


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
        How many pixels have each color; all positive (float64 for the weighted sum
        of several images' histograms, :func:`merge_histograms`).
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

    def subset(self, rows: np.ndarray) -> ColorHistogram:
        """The histogram of the colors selected by ``rows`` (a (M,) bool mask or
        sorted row numbers)."""
        return ColorHistogram(self.keys[rows], self.colors[rows], self.counts[rows])


def merge_histograms(
    hists: list[ColorHistogram], weights: list[float] | None = None
) -> ColorHistogram:
    """The histogram of several sets of pixels together (the frames of an animation,
    the images of a set).

    Parameters
    ----------
    hists : list of ColorHistogram
        With 3 or 4 channels; RGB histograms are made RGBA (alpha 255) when any has
        alpha.
    weights : list of float or None
        A factor for each histogram's counts (e.g. 1 / its pixels, to weigh images
        equally); counts are then float64. None: counts add up (every pixel weighs
        the same), int64.

    Returns
    -------
    ColorHistogram

    >>> a = color_histogram(np.array([[1, 2, 3], [1, 2, 3]], np.uint8))
    >>> b = color_histogram(np.array([[1, 2, 3], [9, 9, 9]], np.uint8))
    >>> m = merge_histograms([a, b]); m.colors.tolist(), m.counts.tolist()
    ([[1, 2, 3], [9, 9, 9]], [3, 1])
    """
    channels = max(h.channels for h in hists)
    keys = np.concatenate([_with_channels(h, channels).keys for h in hists])
    if weights is None:
        counts = np.concatenate([h.counts for h in hists]).astype(np.int64)
    else:
        counts = np.concatenate([h.counts * float(w) for h, w in zip(hists, weights, strict=True)])
    order = np.argsort(keys, kind="stable")  # stable: same sums in the same order
    keys, counts = keys[order], counts[order]
    distinct, starts = _run_starts(keys)
    summed = np.add.reduceat(counts, starts) if keys.size else counts
    return ColorHistogram(distinct, unpack(distinct, channels), summed)


def _with_channels(hist: ColorHistogram, channels: int) -> ColorHistogram:
    """``hist`` with ``channels`` channels: RGB made opaque RGBA (keys keep their order)."""
    if hist.channels == channels:
        return hist
    keys = hist.keys | np.uint32(0xFF << 24)
    return ColorHistogram(keys, unpack(keys, channels), hist.counts)


def color_histogram(colors: np.ndarray) -> ColorHistogram:
    """Count the distinct colors of a set of pixels.

    Block by block (:data:`_HIST_BLOCK` pixels): a block's keys are sorted and
    run-length counted, and the blocks' (key, count) pairs, packed into one uint64
    each, are merged by sorting once they outnumber what was merged so far. Extra
    memory is a few MB plus 8 bytes per pair: far below the 5 bytes per pixel of
    sorting every key at once, at worst (every pixel a new color) about 16 bytes per
    pixel. RGBA takes this way at every size, RGB below :data:`_DENSE_MIN_PIXELS`;
    from there RGB takes :func:`_dense_rgb_counts` (a 16 MP photo of 0.72 M colors:
    0.30 s against 0.80 s, a fixed ~25 MB against the pairs' 50-60 MB).

    In the calling thread: blocks sorted by two threads took 0.14-0.18 s instead of
    0.21-0.23 s on a 16 MP photo, but what a thread frees stays in its own malloc
    arena, whose top ``malloc_trim`` does not return: 24 MB held through the rest
    of the run.

    Parameters
    ----------
    colors : (N, C) uint8 ndarray, C in {3, 4}

    Returns
    -------
    ColorHistogram
    """
    n = colors.shape[0]
    if n >= 1 << 32:  # counts share a uint64 with their key
        raise ValueError(f"cannot count the colors of {n} pixels (at most 2**32 - 1)")

    if colors.shape[1] == 3 and n >= _DENSE_MIN_PIXELS:
        keys, counts = _dense_rgb_counts(colors)
        return ColorHistogram(keys, unpack(keys, 3), counts)

    def block_pairs(start: int) -> np.ndarray:
        distinct, counts = _sorted_runs(pack(colors[start : start + _HIST_BLOCK]))
        return _pairs(distinct, counts)

    if n <= _HIST_BLOCK:  # one block: its runs are the histogram
        distinct, counts = _sorted_runs(pack(colors))
        return ColorHistogram(distinct, unpack(distinct, colors.shape[1]), counts.astype(np.int64))
    merged = np.empty(0, dtype=np.uint64)
    pending: list[np.ndarray] = []
    waiting = 0
    for start in range(0, n, _HIST_BLOCK):
        pairs = block_pairs(start)
        pending.append(pairs)
        waiting += pairs.size
        if waiting > max(merged.size, _HIST_BLOCK):
            merged, pending, waiting = _merge_pairs([merged, *pending]), [], 0
    merged = _merge_pairs([merged, *pending]) if pending else merged
    distinct = (merged >> np.uint64(32)).astype(np.uint32)
    counts = (merged & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return ColorHistogram(distinct, unpack(distinct, colors.shape[1]), counts)


def _dense_rgb_counts(colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colors of RGB pixels and their counts, without sorting: a table of
    the 2**24 colors marks those present (16 MB, dropped once their keys and a rank
    bitmap are made), then each block of pixels finds its colors' rows through the
    bitmap and ``np.add.at`` counts them.

    Parameters
    ----------
    colors : (N, 3) uint8 ndarray

    Returns
    -------
    keys : (M,) uint32 ndarray, sorted
    counts : (M,) int64 ndarray
    """
    n = colors.shape[0]
    present = np.zeros(_RGB_KEYS, dtype=bool)
    for start in range(0, n, _LOOKUP_BLOCK):  # small blocks: the keys are a temporary
        present[pack(colors[start : start + _LOOKUP_BLOCK])] = True
    keys = np.concatenate([  # a block at a time: no (M,) int64 positions
        np.flatnonzero(present[start : start + _BLOCK]).astype(np.uint32) + np.uint32(start)
        for start in range(0, _RGB_KEYS, _BLOCK)
    ])  # fmt: skip
    ranks = _ranks(_words(present))
    del present
    counts = np.zeros(keys.size, dtype=np.int64)
    rows = np.empty(min(n, _HIST_BLOCK), dtype=np.intp)
    for start in range(0, n, _HIST_BLOCK):
        block = colors[start : start + _HIST_BLOCK]
        _rank_rows_into(ranks, block, rows[: block.shape[0]])
        # not np.bincount: its (M,) result a block (134 MB at 16.7 M colors); as fast
        # at 0.7 M colors (3.8 against 3.4 ms a block), 3x faster at 16 M
        np.add.at(counts, rows[: block.shape[0]], 1)
    return keys, counts


def keys_histogram(keys: np.ndarray, channels: int = 4) -> ColorHistogram:
    """The histogram of colors given as keys (:func:`pack`'s layout; RGBA pixels
    viewed as uint32 on a little-endian machine), sorted in one piece.

    Parameters
    ----------
    keys : ndarray of uint32, any shape; not changed
    channels : int
        3 for keys of RGB colors (alpha byte 0), 4 for RGBA.
    """
    distinct, counts = _sorted_runs(keys.reshape(-1).copy())
    return ColorHistogram(distinct, unpack(distinct, channels), counts.astype(np.int64))


def _pairs(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Keys and counts (each below 2**32) packed as ``key << 32 | count`` (uint64),
    so that sorting the pairs sorts by key."""
    pairs = keys.astype(np.uint64)
    pairs <<= np.uint64(32)
    pairs |= counts.astype(np.uint64)
    return pairs


def _merge_pairs(parts: list[np.ndarray]) -> np.ndarray:
    """Pairs of :func:`_pairs` with every key once, its counts summed."""
    if len(parts) == 1:
        return parts[0]
    pairs = np.concatenate(parts)
    if pairs.size == 0:
        return pairs
    pairs.sort()
    if sys.byteorder == "little":  # keys and counts as views of the pairs' halves
        halves = pairs.view(np.uint32)
        keys, counts = halves[1::2], halves[0::2]
    else:
        keys, counts = pairs >> np.uint64(32), pairs & np.uint64(0xFFFFFFFF)
    distinct, starts = _run_starts(keys)
    return _pairs(distinct, np.add.reduceat(counts, starts, dtype=np.uint64))


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

    Block by block. RGB pixels read their value from a 2**24-entry table, or from
    :data:`_BITMAP_MIN_PIXELS` on find their histogram row through a rank bitmap
    over the 2**24 colors (:func:`_rank_rows`: 4 MB against the table's 16 MB, for
    0.2 s instead of 0.12 s on a 16 MP photo; on a 0.3 MP image the table saves 4.5
    of 165 ms). RGBA keys span 2**32 and go through ``np.searchsorted``.

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
    n = colors.shape[0]
    out = np.empty(n, dtype=values.dtype)
    table = ranks = None
    if hist.channels == 3 and n >= _BITMAP_MIN_PIXELS:
        ranks = _rank_bitmap(hist.keys)
    elif hist.channels == 3 and n >= _TABLE_MIN_PIXELS:
        table = np.zeros(_RGB_KEYS, dtype=values.dtype)
        table[hist.keys] = values
    for start in range(0, n, _LOOKUP_BLOCK):
        keys = pack(colors[start : start + _LOOKUP_BLOCK])
        if table is not None:
            np.take(table, keys, out=out[start : start + _LOOKUP_BLOCK])
            continue
        rows = np.searchsorted(hist.keys, keys) if ranks is None else _rank_rows(ranks, keys)
        np.take(values, rows, out=out[start : start + _LOOKUP_BLOCK])
    return out


def _rank_rows_into(
    ranks: tuple[np.ndarray, np.ndarray],
    items: np.ndarray,
    out: np.ndarray,
    keys_of: Callable[[np.ndarray], np.ndarray] = pack,
) -> None:
    """Write into ``out`` ((N,) intp) the rows in the bitmap ``ranks`` of ``items``
    (N RGB colors, (N, 3) uint8, or with ``keys_of`` any items it makes present keys
    of), :data:`_LOOKUP_BLOCK` at a time."""
    for start in range(0, items.shape[0], _LOOKUP_BLOCK):
        keys = keys_of(items[start : start + _LOOKUP_BLOCK])
        out[start : start + keys.size] = _rank_rows(ranks, keys)


class ColorTable:
    """:func:`lookup` prepared once for many calls (the frames of an animation): RGB
    colors through a 2**24-entry table of values (16 MB for uint8 values), RGBA
    through ``np.searchsorted`` on the histogram's keys.

    Parameters
    ----------
    hist : ColorHistogram
        Must hold every color later looked up.
    values : (M,) ndarray
        One value per histogram row.

    >>> hist = color_histogram(np.array([[1, 2, 3], [9, 9, 9]], np.uint8))
    >>> ColorTable(hist, np.array([5, 7], np.uint8))(np.array([[9, 9, 9]], np.uint8)).tolist()
    [7]
    """

    def __init__(self, hist: ColorHistogram, values: np.ndarray) -> None:
        self.keys, self.values = hist.keys, values
        self.table = None
        if hist.channels == 3:
            self.table = np.zeros(_RGB_KEYS, dtype=values.dtype)
            self.table[hist.keys] = values

    def __call__(self, colors: np.ndarray) -> np.ndarray:
        """(N,) values of ``colors`` (N, C) uint8."""
        return self.of_keys(pack(colors))

    def of_keys(self, keys: np.ndarray) -> np.ndarray:
        """Values of colors given as keys (any shape, same shape out); the alpha byte
        of RGB keys is ignored; a color not in the histogram gets some value."""
        if self.table is not None:
            return np.take(self.table, keys & np.uint32(_RGB_KEYS - 1))
        return np.take(self.values, np.searchsorted(self.keys, keys), mode="clip")


def _rank_bitmap(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A bitmap of which of the 2**24 RGB keys are present (64 keys a word), and
    for each word how many keys come before it.

    Parameters
    ----------
    keys : (M,) uint32 ndarray, sorted, distinct, below 2**24

    Returns
    -------
    words : (2**18,) uint64 ndarray
    before : (2**18,) int64 ndarray
    """
    words = np.zeros(_RGB_KEYS >> 6, dtype=np.uint64)
    for start in range(0, keys.size, _LOOKUP_BLOCK):  # blocks: no (M,) uint64 temporaries
        block = keys[start : start + _LOOKUP_BLOCK]
        bits = np.left_shift(np.uint64(1), (block & 63).astype(np.uint64))
        used, starts = _run_starts(block >> 6)  # sorted distinct keys: distinct bits
        words[used] |= np.add.reduceat(bits, starts)  # a word may span two blocks
    return _ranks(words)


def _words(present: np.ndarray) -> np.ndarray:
    """A (P,) bool ndarray (P a multiple of 64) as a bitmap: (P / 64,) uint64 words,
    bit ``i % 64`` of word ``i // 64`` set where ``present[i]``."""
    return np.packbits(present, bitorder="little").view("<u8").astype(np.uint64, copy=False)


def _ranks(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A bitmap of words with, for each word, how many bits are set before it."""
    before = np.zeros(words.size, dtype=np.int64)
    np.cumsum(np.bitwise_count(words)[:-1], out=before[1:])
    return words, before


def _rank_rows(ranks: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
    """Rows of present ``keys`` (any integer values the bitmap covers): the number of
    present keys below each (the word's count before it plus the set bits below it
    in its word), (N,) int64."""
    words, before = ranks
    word = keys >> 6
    below = np.left_shift(np.uint64(1), (keys & 63).astype(np.uint64))
    below -= np.uint64(1)
    below &= words[word]
    rows = before[word]
    rows += np.bitwise_count(below)
    return rows


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


#: Bins are numbered through an occupancy table of the 2**(channels x bits) bins up to
#: this many (a byte each, then a bit), else by sorting the keys.
_DENSE_BINS = 1 << 21


def _bins_of(keys: np.ndarray, channels: int, bits: int) -> np.ndarray:
    """(M,) intp bin of each key when each channel keeps its top ``bits`` bits: bins
    numbered in the order of their keys with the other bits cleared (the order of
    the (q_C-1, ..., q_0) tuples), 0 to B - 1.

    With at most :data:`_DENSE_BINS` possible bins (RGB up to 7 bits), each key's
    kept bits are squeezed into a dense code (the same order) and ranked through a
    bitmap of the occupied codes: no sort, and about 16 bytes a color against
    ``np.unique``'s 33 (a table of ranks took 10 MB more at 7 bits).
    """
    drop = 8 - bits
    if (1 << (channels * bits)) > _DENSE_BINS:
        mask = int.from_bytes(bytes([(0xFF << drop) & 0xFF] * channels), "little")
        return np.unique(keys & np.uint32(mask), return_inverse=True)[1].reshape(-1)
    code = np.zeros(keys.shape[0], dtype=np.uint32)
    part = np.empty_like(code)
    for c in range(channels):  # channel c's kept bits, from byte c of the key
        np.right_shift(keys, 8 * c + drop, out=part)
        np.bitwise_and(part, (1 << bits) - 1, out=part)
        np.left_shift(part, bits * c, out=part)
        np.bitwise_or(code, part, out=code)
    del part
    occupied = np.zeros(max(64, 1 << (channels * bits)), dtype=bool)
    occupied[code] = True
    ranks = _ranks(_words(occupied))
    del occupied
    rows = np.empty(keys.shape[0], dtype=np.intp)
    _rank_rows_into(ranks, code, rows, keys_of=np.asarray)  # blocks: small temporaries
    return rows


def binned(
    hist: ColorHistogram,
    bits: int,
    points: np.ndarray | None = None,
    *,
    levels: np.ndarray | None = None,
) -> BinnedHistogram:
    """Group a histogram's colors into bins of ``2**(8 - bits)`` levels per channel.

    Parameters
    ----------
    hist : ColorHistogram
    bits : int, 1..8
        Bits kept per channel; 8 returns the histogram itself.
    points : (M, D) float64 ndarray or None
        What to average in each bin instead of the colors: the colors as points of
        another space (:func:`kquant.core.spaces.features`). Bins are still cubes of
        the uint8 colors.
    levels : (256, C) float64 ndarray or None
        Instead of ``points``, for a space that maps each channel on its own
        (:func:`kquant.core.spaces.channel_levels`): the colors' points are
        ``levels[color[c], c]``, gathered a column at a time (the same values, and
        no (M, C) float64 array: 16.5 MB on a photo of 0.72 M colors).

    Returns
    -------
    BinnedHistogram
    """
    if levels is not None and (points is not None or levels.shape != (256, hist.channels)):
        raise ValueError(f"levels must be (256, {hist.channels}) and come without points")
    if bits >= 8:
        if points is None and levels is not None:
            points = gathered(hist.colors, levels)
        return BinnedHistogram(hist.colors.astype(np.float64) if points is None else points,
                               hist.counts.astype(np.float64))  # fmt: skip
    bin_of = _bins_of(hist.keys, hist.channels, bits)  # first: its temporaries are gone
    weights = hist.counts.astype(np.float64)
    w = np.bincount(bin_of, weights=weights)
    columns = hist.colors.T if points is None else points.T
    means = np.empty((w.size, columns.shape[0]))
    weighted = np.empty_like(weights)
    for c, column in enumerate(columns):  # one float64 column at a time, in one buffer
        if levels is not None:
            column = levels[column, c]
        means[:, c] = np.bincount(bin_of, weights=np.multiply(weights, column, out=weighted))
    means /= w[:, None]
    return BinnedHistogram(means, w)


def gathered(colors: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(M, C) float64 points ``levels[colors[i, c], c]`` of (M, C) uint8 ``colors``, for
    a (256, C) table of each channel's levels."""
    points = np.empty(colors.shape)
    for c in range(colors.shape[1]):
        points[:, c] = levels[colors[:, c], c]
    return points
