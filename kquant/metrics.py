"""Distortion measures between an image and its quantized version.

Definitions (the same everywhere in kquant, and documented in the README):

- **MSE**: mean over visible pixels and the three RGB channels of the squared
  difference, on the 0-255 scale. Visible means alpha > 0; alpha itself is not part
  of the MSE.
- **PSNR**: ``10 * log10(255**2 / MSE)`` in dB; ``None`` when MSE is 0 (lossless).
- **max_error**: the largest absolute difference in any RGB channel of any visible
  pixel (0-255).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Distortion", "distortion_from_histogram", "image_distortion", "psnr"]


@dataclass(frozen=True)
class Distortion:
    """How far a quantized image is from its original.

    Attributes
    ----------
    mse : float
    psnr : float or None
        None when ``mse`` is 0.
    max_error : int
    """

    mse: float
    psnr: float | None
    max_error: int


def psnr(mse: float) -> float | None:
    """Peak signal-to-noise ratio in dB for 8-bit data; None when ``mse`` is 0."""
    return None if mse <= 0 else 10.0 * math.log10(255.0**2 / mse)


def _distortion(sq_sum: int, n_values: int, max_error: int) -> Distortion:
    mse = sq_sum / n_values if n_values else 0.0
    return Distortion(mse=mse, psnr=psnr(mse), max_error=max_error)


def distortion_from_histogram(
    colors: np.ndarray, counts: np.ndarray, mapped: np.ndarray
) -> Distortion:
    """Distortion when every pixel of color ``colors[i]`` became ``mapped[i]``.

    Exact (integer arithmetic) and O(distinct colors), not O(pixels).

    Parameters
    ----------
    colors : (M, C) uint8 ndarray
        Distinct input colors (visible pixels only); the first three channels are RGB.
    counts : (M,) integer ndarray
        Pixels of each color.
    mapped : (M, C) uint8 ndarray
        The output color of each input color.
    """
    diff = colors[:, :3].astype(np.int64) - mapped[:, :3].astype(np.int64)
    sq_sum = int(((diff * diff).sum(axis=1) * counts).sum())
    max_error = int(np.abs(diff).max()) if diff.size else 0
    return _distortion(sq_sum, 3 * int(counts.sum()), max_error)


def image_distortion(
    original: np.ndarray, result: np.ndarray, visible: np.ndarray | None = None
) -> Distortion:
    """Distortion between two images of the same size, pixel by pixel.

    Used where no histogram mapping exists (e.g. a JPEG output decoded again), and as
    the independent check in tests. Works in row blocks to bound memory.

    Parameters
    ----------
    original, result : (H, W, C) uint8 ndarray, C >= 3
        Only the first three (RGB) channels are compared.
    visible : (H, W) bool ndarray or None
        Pixels to include; None means all.
    """
    if original.shape[:2] != result.shape[:2]:
        raise ValueError(f"image sizes differ: {original.shape[:2]} vs {result.shape[:2]}")
    sq_sum = 0
    n_values = 0
    max_error = 0
    rows = max(1, (1 << 20) // max(1, original.shape[1]))
    for top in range(0, original.shape[0], rows):
        a = original[top : top + rows, :, :3].astype(np.int32)
        b = result[top : top + rows, :, :3].astype(np.int32)
        diff = (a - b).reshape(-1, 3)
        if visible is not None:
            diff = diff[visible[top : top + rows].reshape(-1)]
        if diff.size:
            sq_sum += int(np.einsum("ij,ij->", diff, diff, dtype=np.int64))
            max_error = max(max_error, int(np.abs(diff).max()))
            n_values += diff.size
    return _distortion(sq_sum, n_values, max_error)
