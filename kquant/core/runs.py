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

#: Rows of the image handled at a time (their columns are walked together).
_STRIP_ROWS = 256


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
    for top in range(0, index.shape[0], _STRIP_ROWS):
        rows = index[top : top + _STRIP_ROWS]
        colors = np.ascontiguousarray(pixels[top : top + _STRIP_ROWS, :, :3].swapaxes(0, 1))
        strip = np.ascontiguousarray(rows.T)  # (W, h): a column is contiguous
        for x in range(1, strip.shape[0]):
            here, left = strip[x], strip[x - 1]
            value = colors[x].astype(np.int32)
            own, other = value - pal[here], value - pal[left]
            extra = np.einsum("ij,ij->i", other, other) - np.einsum("ij,ij->i", own, own)
            np.copyto(here, left, where=extra <= budget)
        rows[...] = strip.T
    return index
