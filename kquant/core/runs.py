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

__all__ = ["RUN_BUDGET", "continue_runs"]

#: Bytes of working arrays per strip of rows (a transposed copy of its pixels, their
#: errors and indices: 8 bytes a pixel): the columns of a strip are walked together,
#: so larger strips mean fewer, longer steps.
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
    """
    if budget < 0 or not np.isfinite(budget):
        raise ValueError(f"budget must be a finite number >= 0, got {budget}")
    pal = palette[:, :3].astype(np.int32)
    height, width = index.shape
    step = max(1, _STRIP_BYTES // (8 * max(width, 1)))
    for top in range(0, height, step):
        rows = index[top : top + step]
        colors = np.ascontiguousarray(pixels[top : top + step, :, :3].swapaxes(0, 1))
        strip = np.ascontiguousarray(rows.T)  # (W, h): a column is contiguous
        # the largest error each pixel may take: its own row's (errors are integers)
        limit = _squared_errors(colors, pal, strip) + int(np.floor(budget))
        for x in range(1, width):
            left = strip[x - 1]
            diff = colors[x] - pal[left]  # int32
            np.copyto(strip[x], left, where=np.einsum("ij,ij->i", diff, diff) <= limit[x])
        rows[...] = strip.T
    return index


def _squared_errors(colors: np.ndarray, pal: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(W, h) int32 squared error of the (W, h, 3) uint8 ``colors`` as ``pal[rows]``."""
    out = np.empty(rows.shape, dtype=np.int32)
    cols = max(1, (1 << 18) // max(rows.shape[1], 1))  # blocks of about 256 K pixels
    for x in range(0, rows.shape[0], cols):
        diff = colors[x : x + cols] - pal[rows[x : x + cols]]
        np.einsum("ijk,ijk->ij", diff, diff, out=out[x : x + cols])
    return out
