"""Distortion measures between an image and its quantized version.

Definitions (the same everywhere in kquant, and documented in the README):

- **MSE**: mean over visible pixels and the three RGB channels of the squared
  difference, on the 0-255 scale. Visible means alpha > 0; alpha itself is not part
  of the MSE.
- **PSNR**: ``10 * log10(255**2 / MSE)`` in dB; ``None`` when MSE is 0 (lossless).
- **max_error**: the largest absolute difference in any RGB channel of any visible
  pixel (0-255).
- **ΔE2000** (:func:`mean_delta_e`): mean over visible pixels of the CIEDE2000 color
  difference (scikit-image's ``deltaE_ciede2000`` on ``rgb2lab`` colors, D65).
  About 1 is the smallest difference people notice side by side.
- **SSIM** (:func:`ssim`): scikit-image's ``structural_similarity`` (7x7 uniform
  window, K1 0.01, K2 0.03, data range 255), the mean over R, G and B, of the images
  composited over black (so transparent pixels are black in both).
- **Seen from a distance** (``blur``): both measures on the two images low-passed
  by a Gaussian of :data:`BLUR_SIGMA` px per channel, the idea of S-CIELAB (Zhang
  and Wandell, 1996) reduced to one fixed filter. At pixel level both measures
  count dithering's fine noise as error (measured on china.jpg at k=16: SSIM 0.915
  undithered against 0.800 dithered), while the eye averages it away; blurred, the
  noise mostly goes and bands stay (0.952 against 0.966). Filtering is on sRGB
  values.

- **SSIMULACRA 2** (:func:`ssimulacra2`): libjxl's perceptual metric (multi-scale
  SSIM and edge measures in the XYB space, fitted to human ratings), through the
  optional ``ssimulacra2`` package (the pure-Python port; ``pip install
  'kquant[ssimulacra2]'``). 100 is identical, about 90 visually lossless, 70 high
  quality, 50 medium, 30 low. With alpha, both images are composited on a dark
  (0.1) and a light (0.9) gray and the lower score is given. About 2 s and 550 MB
  a megapixel, so above 1 MP it is the mean of 512-px tiles (above 4 MP of evenly
  spaced tiles holding about 4 MP); the report says so.

Above :data:`METRIC_MAX_PIXELS`, the per-pixel measures (SSIM, and ΔE of blurred
images) are averaged over evenly spaced strips of rows holding about that many
pixels; the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kquant.defaults import METRIC_FIELDS
from kquant.settings import check_metrics

__all__ = [
    "BLUR_SIGMA",
    "METRIC_MAX_PIXELS",
    "Distortion",
    "Similarity",
    "distortion_from_histogram",
    "image_distortion",
    "label_distortion",
    "mean_delta_e",
    "perceptual",
    "psnr",
    "ssim",
    "ssimulacra2",
]


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
    sq_sum, max_error = 0, 0
    for i in range(0, colors.shape[0], _COLOR_BLOCK):  # a block at a time: exact integers
        diff = colors[i : i + _COLOR_BLOCK, :3].astype(np.int64)
        diff -= mapped[i : i + _COLOR_BLOCK, :3]
        sq_sum += int(((diff * diff).sum(axis=1) * counts[i : i + _COLOR_BLOCK]).sum())
        max_error = max(max_error, int(np.abs(diff).max()))
    return _distortion(sq_sum, 3 * int(counts.sum()), max_error)


#: Colors per block of :func:`distortion_from_histogram` (its int64 temporaries stay
#: a few MB, not 48 bytes a color).
_COLOR_BLOCK = 1 << 16


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
    rows = max(1, (1 << 16) // max(1, original.shape[1]))  # blocks of 2-3 MB
    blocks = []
    for top in range(0, original.shape[0], rows):
        diff = original[top : top + rows, :, :3].astype(np.int32) - result[top : top + rows, :, :3]
        diff = diff.reshape(-1, 3)
        blocks.append(diff if visible is None else diff[visible[top : top + rows].reshape(-1)])
        blocks[-1] = _block_sums(blocks[-1])
    return _combined(blocks)


def label_distortion(colors: np.ndarray, palette: np.ndarray, labels: np.ndarray) -> Distortion:
    """Distortion when pixel ``i`` of color ``colors[i]`` became ``palette[labels[i]]``
    (a dithered mapping: per pixel, not per color), block by block, so the mapped
    colors are never all in memory at once.

    Parameters
    ----------
    colors : (N, C) uint8 ndarray
    palette : (P, C) uint8 ndarray
    labels : (N,) integer ndarray
    """
    step = 1 << 16  # 12 bytes a pixel, three times: 2.4 MB a block
    sums = []
    for i in range(0, colors.shape[0], step):
        mapped = palette[labels[i : i + step], :3]
        sums.append(_block_sums(colors[i : i + step, :3].astype(np.int32) - mapped))
    return _combined(sums)


def _combined(blocks: list[tuple[int, int, int]]) -> Distortion:
    """The distortion of the blocks of :func:`_block_sums` together."""
    return _distortion(sum(b[0] for b in blocks), sum(b[1] for b in blocks),
                       max((b[2] for b in blocks), default=0))  # fmt: skip


def _block_sums(diff: np.ndarray) -> tuple[int, int, int]:
    """(sum of squares, values, largest absolute value) of a (N, 3) int32 block."""
    if not diff.size:
        return 0, 0, 0
    sq_sum = int(np.einsum("ij,ij->", diff, diff, dtype=np.int64))
    return sq_sum, diff.size, int(np.abs(diff).max())


#: Standard deviation in pixels of the Gaussian of the "seen from a distance" measures.
BLUR_SIGMA = 1.0
#: Above this many pixels, per-pixel measures use evenly spaced strips of rows that
#: hold about this many (SSIM costs about 0.5 s per megapixel).
METRIC_MAX_PIXELS = 4_000_000
#: Rows in each strip (memory stays O(strip x width)).
_STRIP = 128
#: scikit-image's default SSIM window, and the rows it leaves out at each border.
_SSIM_WIN = 7
_SSIM_PAD = (_SSIM_WIN - 1) // 2


@dataclass(frozen=True)
class Similarity:
    """A perceptual measure and the share of the image it was computed on.

    Attributes
    ----------
    value : float or None
        None when it cannot be computed (SSIM of an image smaller than its window).
    rows : int
        Rows it was averaged over.
    of_rows : int
        Rows it would cover on the whole image (``rows < of_rows``: sampled).
    """

    value: float | None
    rows: int
    of_rows: int
    #: How it was computed when that is worth a note (SSIMULACRA 2 in tiles).
    how: str | None = None

    @property
    def sampled(self) -> bool:
        return self.rows < self.of_rows


def _strips(first: int, stop: int, width: int, max_pixels: int | None) -> list[tuple[int, int]]:
    """Row ranges ``[top, bottom)`` of strips covering rows ``first .. stop - 1``, or
    evenly spaced ones among them holding about ``max_pixels`` pixels."""
    strips = [(top, min(top + _STRIP, stop)) for top in range(first, stop, _STRIP)]
    if max_pixels is not None and (stop - first) * width > max_pixels:
        wanted = max(1, round(len(strips) * max_pixels / ((stop - first) * width)))
        picks = np.linspace(0, len(strips) - 1, wanted).round().astype(int)
        strips = [strips[i] for i in sorted(set(picks.tolist()))]
    return strips


def _window(image: np.ndarray, top: int, bottom: int, margin: int, blur: float) -> np.ndarray:
    """Rows ``top - margin .. bottom + margin - 1`` of an image as float64 RGB over
    black, blurred as the whole image would be."""
    radius = int(4.0 * blur + 0.5) if blur > 0 else 0  # scipy's truncate=4
    start, stop = max(0, top - margin - radius), min(image.shape[0], bottom + margin + radius)
    rgb = image[start:stop, :, :3].astype(np.float64)
    if image.shape[2] == 4:
        rgb *= image[start:stop, :, 3:4] / 255.0
    if blur > 0:
        from scipy.ndimage import gaussian_filter

        rgb = gaussian_filter(rgb, sigma=(blur, blur, 0), truncate=4.0)
    return rgb[top - margin - start : bottom + margin - start]


def _check_same(original: np.ndarray, result: np.ndarray) -> None:
    if original.shape[:2] != result.shape[:2]:
        raise ValueError(f"image sizes differ: {original.shape[:2]} vs {result.shape[:2]}")


def mean_delta_e(
    original: np.ndarray,
    result: np.ndarray,
    visible: np.ndarray | None = None,
    *,
    blur: float = 0.0,
    max_pixels: int | None = METRIC_MAX_PIXELS,
) -> Similarity:
    """Mean CIEDE2000 difference between two images, over visible pixels.

    Without ``blur`` it is exact, computed once per distinct (input color, output
    color) pair weighted by its pixels (far fewer than the pixels: a 4 MP photo at
    k=64 takes about 0.5 s), and ``max_pixels`` does not apply. With ``blur`` it is
    per pixel, of the blurred images composited over black.

    Parameters
    ----------
    original, result : (H, W, C) uint8 ndarray, C = 3 or 4
        Only the RGB channels are compared.
    visible : (H, W) bool ndarray or None
        Pixels to include; None means all.
    blur : float
        Gaussian sigma in pixels; 0 for none.
    max_pixels : int or None
        With ``blur``, the most pixels computed (see :data:`METRIC_MAX_PIXELS`).

    Returns
    -------
    Similarity
        Its value is 0 when the images are equal or no pixel is visible.
    """
    from skimage.color import deltaE_ciede2000, rgb2lab

    from kquant.core.colors import pack, unpack

    _check_same(original, result)
    height, width = original.shape[:2]
    if blur > 0:
        total, count, rows = 0.0, 0, 0
        for top, bottom in _strips(0, height, width, max_pixels):
            delta = deltaE_ciede2000(
                rgb2lab(_window(original, top, bottom, 0, blur) / 255.0),
                rgb2lab(_window(result, top, bottom, 0, blur) / 255.0),
            )
            if visible is not None:
                delta = delta[visible[top:bottom]]
            total, count, rows = total + float(delta.sum()), count + delta.size, rows + bottom - top
        return Similarity(total / count if count else 0.0, rows, height)
    a = pack(np.ascontiguousarray(original[..., :3]).reshape(-1, 3)).astype(np.uint64)
    b = pack(np.ascontiguousarray(result[..., :3]).reshape(-1, 3)).astype(np.uint64)
    if visible is not None:
        a, b = a[visible.reshape(-1)], b[visible.reshape(-1)]
    if a.size == 0:
        return Similarity(0.0, height, height)
    pairs, counts = np.unique((a << np.uint64(24)) | b, return_counts=True)
    colors_a = unpack((pairs >> np.uint64(24)).astype(np.uint32), 3)
    colors_b = unpack((pairs & np.uint64(0xFFFFFF)).astype(np.uint32), 3)
    delta = deltaE_ciede2000(rgb2lab(colors_a / 255.0), rgb2lab(colors_b / 255.0))
    return Similarity(float(np.dot(delta, counts) / counts.sum()), height, height)


def ssim(
    original: np.ndarray,
    result: np.ndarray,
    *,
    blur: float = 0.0,
    max_pixels: int | None = METRIC_MAX_PIXELS,
) -> Similarity:
    """Structural similarity of two RGB(A) images, as scikit-image computes it.

    scikit-image averages the SSIM map over window centres at least 3 pixels from
    every border. This computes the same map strip by strip (each strip read with the
    margins its window and blur need, so every value equals the whole-image one) and
    averages it; above ``max_pixels`` pixels, over evenly spaced strips only.

    Parameters
    ----------
    original, result : (H, W, C) uint8 ndarray, C = 3 or 4
        With alpha, both are composited over black first.
    blur : float
        Gaussian sigma in pixels applied to both first; 0 for none.
    max_pixels : int or None
        None computes every strip.

    Returns
    -------
    Similarity
    """
    from skimage.metrics import structural_similarity

    _check_same(original, result)
    height, width = original.shape[:2]
    pad = _SSIM_PAD
    if min(height, width) < _SSIM_WIN:
        return Similarity(None, 0, max(0, height - 2 * pad))
    total, rows = 0.0, 0
    for top, bottom in _strips(pad, height - pad, width, max_pixels):
        smap = structural_similarity(
            _window(original, top, bottom, pad, blur),
            _window(result, top, bottom, pad, blur),
            channel_axis=2,
            data_range=255,
            full=True,
        )[1]
        total += float(smap[pad:-pad, pad:-pad].sum())
        rows += bottom - top
    return Similarity(total / (rows * (width - 2 * pad) * 3), rows, height - 2 * pad)


def perceptual(
    original: np.ndarray, result: np.ndarray | None, names: Sequence[str]
) -> dict[str, Similarity]:
    """The measures ``names`` (from :data:`kquant.defaults.METRIC_FIELDS`) of
    ``result`` against ``original``, by report field; the fields not asked for (or
    all, when ``result`` is None) hold a :class:`Similarity` with value None.

    Parameters
    ----------
    original, result : (H, W, C) uint8 ndarray, C = 3 or 4
        Pixels with alpha 0 in ``original`` are left out of ΔE2000.
    names : sequence of str

    Raises
    ------
    kquant.errors.UsageError
        For a name not in :data:`kquant.defaults.METRICS`.
    """
    names = check_metrics(names)
    out: dict[str, Similarity] = {}
    visible = original[..., 3] > 0 if names and original.shape[2] == 4 else None
    for name, field_name in METRIC_FIELDS.items():
        blur = BLUR_SIGMA if name.endswith("-blur") else 0.0
        if name not in names or result is None:
            out[field_name] = Similarity(None, 0, 0)
        elif name.startswith("deltae"):
            out[field_name] = mean_delta_e(original, result, visible, blur=blur)
        elif name == "ssimulacra2":
            out[field_name] = ssimulacra2(original, result)
        else:
            out[field_name] = ssim(original, result, blur=blur)
    return out


#: SSIMULACRA 2 needs this many pixels on each side (its first scale's window).
_SSIMULACRA2_MIN_SIDE = 8
#: Grays (0-1) images with alpha are composited on; the lower score counts.
_SSIMULACRA2_BACKGROUNDS = (0.1, 0.9)


#: SSIMULACRA 2 (the Python package takes about 550 bytes a pixel) scores images up to
#: this many pixels whole; larger ones in tiles of about :data:`_SSIMULACRA2_TILE` px
#: a side, the mean of the tiles' scores weighted by their pixels, and above
#: :data:`METRIC_MAX_PIXELS` only evenly spaced tiles holding about that many.
SSIMULACRA2_WHOLE_PIXELS = 1_000_000
_SSIMULACRA2_TILE = 512


def ssimulacra2(
    original: np.ndarray, result: np.ndarray, whole_pixels: int | None = SSIMULACRA2_WHOLE_PIXELS
) -> Similarity:
    """SSIMULACRA 2 of ``result`` against ``original`` (higher is better, 100 at most).

    Parameters
    ----------
    original, result : (H, W, C) uint8 ndarray, C = 3 or 4
    whole_pixels : int or None
        Above this many pixels, score tiles (:data:`SSIMULACRA2_WHOLE_PIXELS`); None:
        always the whole image (the benchmark's choice, whatever the memory).

    Returns
    -------
    Similarity
        Value None for an image under 8 pixels on a side; ``how`` says when tiles
        were scored.
    """
    _check_same(original, result)
    height, width = original.shape[:2]
    if min(height, width) < _SSIMULACRA2_MIN_SIDE:
        return Similarity(None, 0, 0)
    if whole_pixels is None or height * width <= whole_pixels:
        return Similarity(_ssimulacra2_whole(original, result), height, height)
    ys = _split(height, _SSIMULACRA2_TILE)
    xs = _split(width, _SSIMULACRA2_TILE)
    tiles = [(y, x) for y in ys for x in xs]
    n_tiles = len(tiles)
    if height * width > METRIC_MAX_PIXELS:  # evenly spaced tiles holding about that many
        keep = max(1, round(n_tiles * METRIC_MAX_PIXELS / (height * width)))
        tiles = [tiles[i] for i in np.linspace(0, n_tiles - 1, keep).round().astype(int)]
    scores, weights = [], []
    for (top, bottom), (left, right) in tiles:
        a, b = original[top:bottom, left:right], result[top:bottom, left:right]
        scores.append(_ssimulacra2_whole(a, b))
        weights.append((bottom - top) * (right - left))
    how = f"as the mean of {len(tiles)} of {n_tiles} tiles of about {_SSIMULACRA2_TILE} px"
    if len(tiles) == n_tiles:
        how = f"as the mean of {n_tiles} tiles of about {_SSIMULACRA2_TILE} px"
    return Similarity(float(np.average(scores, weights=weights)), height, height, how)


def _split(size: int, step: int) -> list[tuple[int, int]]:
    """``range(size)`` cut into near-equal pieces of about ``step`` (at least half)."""
    n = max(1, round(size / step))
    edges = np.linspace(0, size, n + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _ssimulacra2_whole(original: np.ndarray, result: np.ndarray) -> float:
    """The package's score of two whole (H, W, C) uint8 images, alpha composited."""
    import io

    from PIL import Image
    from ssimulacra2 import compute_ssimulacra2

    def png(rgb: np.ndarray) -> io.BytesIO:  # the package reads files; level 0 is fast
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", compress_level=0)
        buffer.seek(0)
        return buffer

    if original.shape[2] == 3:
        pairs = [(original, result)]
    else:
        pairs = [(_on_gray(original, bg), _on_gray(result, bg)) for bg in _SSIMULACRA2_BACKGROUNDS]
    return min(float(compute_ssimulacra2(png(a), png(b))) for a, b in pairs)


def _on_gray(pixels: np.ndarray, gray: float) -> np.ndarray:
    """(H, W, 3) uint8: RGBA ``pixels`` composited on a gray of ``gray`` (0-1)."""
    alpha = pixels[..., 3:4].astype(np.float64) / 255.0
    rgb = pixels[..., :3] * alpha + 255.0 * gray * (1.0 - alpha)
    return np.rint(rgb).astype(np.uint8)
