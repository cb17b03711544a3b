"""Where dithering pays: libimagequant's dither map, for ``--dither adaptive``.

Error diffusion hides bands in smooth gradients, but where the eye sees no bands
(edges, texture, noise, and flat areas that the palette already reproduces) it only
adds noise, which costs bytes and, on graphics, looks worse. libimagequant
(``Image::contrast_maps`` and ``update_dither_map``) scales each pixel's diffused
error by a map built in two steps, reproduced here with numpy and scipy.ndimage:

1. **contrast**: per pixel, the second differences to its horizontal and vertical
   neighbours (largest over the channels, values on 0-1): ``edges = 1 - edge`` is low
   on edges; a "noise" measure, low where both directions change (texture), is
   widened and smoothed (3x3 max twice, a 7-pixel box blur, a max, three mins) and
   the map is the lower of the two;
2. **bands**: on the undithered mapping, each run of one palette index along a row
   gets ``1 - 20 / (20 + n)`` with ``n`` = 10 per pixel of the run plus 15 per pixel
   above or below it of the same index: long, tall runs (bands) keep their full
   dithering, isolated pixels and thin details lose most of it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dither_map"]


def dither_map(pixels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The share of error each pixel passes on, libimagequant's way.

    Parameters
    ----------
    pixels : (H, W, C) uint8 ndarray
        The image (RGB or RGBA).
    index : (H, W) integer ndarray
        Its undithered palette rows (any value for skipped pixels).

    Returns
    -------
    (H, W) float64 ndarray in [0, 1]
    """
    from scipy import ndimage

    height, width = index.shape
    if height < 4 or width < 4:  # libimagequant leaves small images alone
        return np.ones((height, width))
    px = pixels.astype(np.float32) / 255.0
    pad = np.pad(px, ((1, 1), (1, 1), (0, 0)), mode="edge")
    horiz = np.abs(pad[1:-1, :-2] + pad[1:-1, 2:] - 2 * px).max(axis=2)
    vert = np.abs(pad[:-2, 1:-1] + pad[2:, 1:-1] - 2 * px).max(axis=2)
    edge = np.maximum(horiz, vert)
    z = edge - 0.5 * np.abs(horiz - vert)
    z = 1.0 - np.maximum(z, np.minimum(horiz, vert))
    noise = np.minimum(z**4 * 176.0 + 80.0, 255.0)
    edges = np.clip((1.0 - edge) * 256.0, 0.0, 255.0)
    cross = ndimage.generate_binary_structure(2, 1)

    def grow(a: np.ndarray) -> np.ndarray:
        return ndimage.maximum_filter(a, footprint=cross, mode="nearest")

    def shrink(a: np.ndarray) -> np.ndarray:
        return ndimage.minimum_filter(a, footprint=cross, mode="nearest")

    noise = grow(grow(noise))
    noise = ndimage.uniform_filter(noise, size=7, mode="nearest")
    noise = shrink(shrink(shrink(grow(noise))))
    edges = np.minimum(noise, grow(shrink(edges)))
    return (edges + 128.0) * (255.0 / 383.0) * _band_factor(index) / 255.0


def _band_factor(index: np.ndarray) -> np.ndarray:
    """(H, W): ``1 - 20 / (20 + n)`` of the row run of one index each pixel is in,
    ``n`` = 10 x its length + 15 x the pixels above or below it of the same index."""
    height, width = index.shape
    starts = np.ones((height, width), bool)
    starts[:, 1:] = index[:, 1:] != index[:, :-1]
    run = np.cumsum(starts.reshape(-1)) - 1  # run number of each pixel, rows never joined
    same = np.zeros((height, width))
    same[1:] += index[1:] == index[:-1]
    same[:-1] += index[:-1] == index[1:]
    n = 10.0 * np.bincount(run) + 15.0 * np.bincount(run, weights=same.reshape(-1))
    return (1.0 - 20.0 / (20.0 + n))[run].reshape(height, width)
