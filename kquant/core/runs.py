"""Rate-aware remapping: rows that PNG encodes more cheaply, for a bounded error.

An undithered mapping gives each pixel its nearest palette row. Where the row of the
pixel to its left is almost as near, taking it continues a run of equal indices,
which deflate (after PNG's filters) encodes in fewer bytes. :func:`continue_runs`
does this greedily in the encoder's order, left to right along each row, so each
choice sees its left neighbour's final row: a pixel takes it when that adds at most
``budget`` to its squared RGB error (summed over channels, 0-255 scale).

Measured before it was built (``bench/rate_mapping.py``, docs/BENCHMARKS.md: 4
photos, k = 32-256, bytes after oxipng level 2 against the plain mapping's at the
same PSNR): a budget of 48 (about 4 levels a channel) gives a median 0.945x, at
best 0.71x, at worst 1.005x; the row above as a second candidate added nothing, and
budgets of 100-200 spend more PSNR than they save bytes.
"""

from __future__ import annotations

import numpy as np

from kquant.defaults import RUN_BUDGET

__all__ = ["RUN_BUDGET", "continue_runs", "sampled_increase"]

#: Bytes of working arrays per strip of rows (a transposed copy of its pixels, their
#: float32 error limits and indices: about 9 bytes a pixel): the columns of a strip
#: are walked together, so larger strips mean fewer, longer steps.
_STRIP_BYTES = 32 << 20


def continue_runs(
    pixels: np.ndarray, palette: np.ndarray, index: np.ndarray, budget: float = RUN_BUDGET
) -> np.ndarray:
    """Give pixels their left neighbour's palette row where it costs at most
    ``budget`` more squared error than the row they have.

    Parameters
    ----------
    pixels : (H, W, C) uint8 ndarray, C >= 3
        The image (RGB in the first three channels; the error is measured on them).
    palette : (P, C') uint8 ndarray, C' >= 3
        The rows ``index`` points into.
    index : (H, W) unsigned integer ndarray
        Each pixel's row (the nearest, from an undithered mapping); changed in place.
    budget : float >= 0
        Largest increase of a pixel's squared error over the row it had (0: only
        ties are taken).

    Returns
    -------
    index : the same array
        Every change takes the final row of the pixel to the left.

    Notes
    -----
    The errors are computed in float32, exact for these integers (at most 3 x 255^2,
    below 2^24), with every step's arrays allocated once: 0.65x the time of int32
    arithmetic with fresh arrays (0.14 against 0.215 s on a 4 MP photo).
    """
    if budget < 0 or not np.isfinite(budget):
        raise ValueError(f"budget must be a finite number >= 0, got {budget}")
    pal = palette[:, :3].astype(np.float32)
    height, width = index.shape
    step = max(1, _STRIP_BYTES // (9 * max(width, 1)))
    for top in range(0, height, step):
        rows = index[top : top + step]
        colors = np.ascontiguousarray(pixels[top : top + step, :, :3].swapaxes(0, 1))
        strip = np.ascontiguousarray(rows.T)  # (W, h): a column is contiguous
        # the largest error each pixel may take: its own row's (errors are integers)
        limit = _squared_errors(colors, pal, strip)
        limit += np.float32(np.floor(budget))
        mapped = np.empty((strip.shape[1], 3), np.float32)
        errors = np.empty(strip.shape[1], np.float32)
        take = np.empty(strip.shape[1], bool)
        for x in range(1, width):
            left = strip[x - 1]
            np.take(pal, left, axis=0, out=mapped)
            np.subtract(colors[x], mapped, out=mapped)
            np.einsum("ij,ij->i", mapped, mapped, out=errors)
            np.less_equal(errors, limit[x], out=take)
            np.copyto(strip[x], left, where=take)
        rows[...] = strip.T
    return index


def sampled_increase(
    pixels: np.ndarray, palette: np.ndarray, index: np.ndarray, budget: float, *, every: int
) -> float:
    """What :func:`continue_runs` would add to the mean squared error
    (:attr:`Distortion.mse <kquant.core.metrics.Distortion.mse>`), measured on every
    ``every``-th row: a row's runs depend on that row alone, so each sampled row's
    change is exact; only the sample is an estimate. ``index`` is not changed.

    Parameters
    ----------
    pixels, palette, index, budget
        As for :func:`continue_runs`; ``index`` may be (H*W,).
    every : int >= 1
    """
    from kquant.core.metrics import label_distortion

    height, width = pixels.shape[:2]
    colors = pixels[::every]
    rows = index.reshape(height, width)[::every].copy()
    flat = colors.reshape(-1, pixels.shape[2])
    before = label_distortion(flat, palette, rows.reshape(-1)).mse
    continue_runs(colors, palette, rows, budget)
    return label_distortion(flat, palette, rows.reshape(-1)).mse - before


def _squared_errors(colors: np.ndarray, pal: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(W, h) float32 squared error of the (W, h, 3) uint8 ``colors`` as
    ``pal[rows]``, in blocks of about 256 K pixels (one block's rows at a time)."""
    out = np.empty(rows.shape, dtype=np.float32)
    cols = max(1, (1 << 18) // max(rows.shape[1], 1))
    mapped = np.empty((min(cols, rows.shape[0]), rows.shape[1], 3), np.float32)
    for x in range(0, rows.shape[0], cols):
        block = mapped[: min(cols, rows.shape[0] - x)]
        np.take(pal, rows[x : x + cols], axis=0, out=block)
        np.subtract(colors[x : x + cols], block, out=block)
        np.multiply(block, block, out=block)
        np.add(block[..., 0], block[..., 1], out=out[x : x + cols])
        out[x : x + cols] += block[..., 2]
    return out
