"""Quantize an image array: fit a palette, map every pixel to its nearest entry.

Data flow, for an (H, W, C) uint8 image:

1. Visible pixels (alpha > 0, or all pixels without alpha) are counted into a
   histogram of distinct colors (:mod:`kquant.colors`). Fully transparent pixels
   are set aside: whatever RGB they hide, they share one transparent palette entry.
2. If the image has at most ``k`` distinct visible colors, they are the palette and
   the result is exact. Otherwise a codebook is fitted (:mod:`kquant.codebook`) on
   the histogram (of every pixel by default, or of a seeded random sample of
   ``sample`` pixels) and rounded to uint8, so what is measured is what is written.
3. Each distinct color is mapped to its exact nearest palette entry
   (:mod:`kquant.mapping`); pixels take the index of their color through a lookup
   table (:func:`kquant.colors.lookup`).
4. Unused entries are dropped; the palette is ordered with transparent entries
   first, then by how many pixels use each entry (good for PNG's tRNS and deflate).
5. The distortion is computed from the histogram (:mod:`kquant.metrics`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from kquant.codebook import fit_around, fit_codebook, round_palette, start_import
from kquant.colors import ColorHistogram, color_histogram, lookup, pack
from kquant.defaults import DEFAULT_COLORS, DEFAULT_DITHER, DEFAULT_DITHER_STRENGTH, INDEXED_LIMIT
from kquant.dither import floyd_steinberg
from kquant.errors import UsageError
from kquant.mapping import nearest_index
from kquant.memory import release_free_memory
from kquant.metrics import Distortion, distortion_from_histogram, label_distortion
from kquant.settings import FitOptions, check_colors, check_dither
from kquant.spaces import alpha_scale, channel_levels, features, from_features
from kquant.stages import Stage

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Prepared",
    "Quantized",
    "as_pixels",
    "fit_palette",
    "given_palette",
    "match_colors",
    "prepare",
    "quantize",
    "quantize_to_target",
]


@dataclass(frozen=True)
class Quantized:
    """The result of :func:`quantize`.

    Attributes
    ----------
    palette : (P, C) uint8 ndarray
        The colors written, C = 3 (RGB) or 4 (RGBA). With transparency, row
        ``transparent_index`` is (0, 0, 0, 0).
    indices : (H, W) ndarray, uint8 when P <= 256 else uint16
        Palette row of every pixel.
    transparent_index : int or None
        The palette row of fully transparent pixels, if any.
    colors_in : int
        Distinct visible colors of the input.
    colors_out : int
        Distinct visible colors of the output (palette rows used, transparent
        entry excluded); at most ``k``.
    distortion : Distortion
        MSE, PSNR and max error over visible pixels, RGB channels.
    fit_pixels : int
        Pixels the codebook was fitted on; 0 when no fit was needed (at most ``k``
        distinct colors, reproduced exactly).
    seconds : dict
        Wall time of the ``fit`` (histogram and codebook) and ``map`` stages.
    """

    palette: np.ndarray
    indices: np.ndarray
    transparent_index: int | None
    colors_in: int
    colors_out: int
    distortion: Distortion
    fit_pixels: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def has_alpha(self) -> bool:
        return self.palette.shape[1] == 4

    def to_array(self) -> np.ndarray:
        """The quantized image, (H, W, C) uint8."""
        return self.palette[self.indices]

    def to_image(self) -> Image.Image:
        """The quantized image as Pillow would write it to a PNG: mode ``P`` holding
        exactly the palette (transparency in its ``transparency`` info) when it has at
        most 256 entries (with alpha, an RGBA palette), else ``RGB`` or ``RGBA``.

        >>> import numpy as np
        >>> img = np.zeros((2, 2, 3), np.uint8); img[1] = 255
        >>> im = quantize(img, k=2).to_image()
        >>> im.mode, im.size, sorted(im.getcolors())
        ('P', (2, 2), [(2, 0), (2, 1)])
        """
        from kquant.images import to_pil

        return to_pil(self.palette, self.indices, "PNG")


def as_pixels(image: np.ndarray | Image.Image) -> np.ndarray:
    """Bring an image to the layout :func:`quantize` works on.

    Parameters
    ----------
    image : ndarray or PIL.Image.Image
        (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA uint8 array, or a Pillow image
        of any mode (converted as :func:`kquant.images.load_image` does).

    Returns
    -------
    pixels : (H, W, 3) or (H, W, 4) uint8 ndarray
    """
    if not isinstance(image, np.ndarray):
        from kquant.images import pixels_from_pil

        return pixels_from_pil(image)[0]
    if image.dtype != np.uint8:
        raise UsageError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise UsageError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got {image.shape}")
    return image


@dataclass(frozen=True)
class Prepared:
    """An image made ready to quantize at any k: quantizing it several times (a
    sweep over k, a search for a quality target) counts its colors once.

    Attributes
    ----------
    pixels : (H, W, C) uint8 ndarray
    visible : (H*W,) bool ndarray or None
        Pixels with alpha > 0; None when every pixel is visible.
    vis_colors : (N, C) uint8 ndarray
        The visible pixels' colors.
    hist : ColorHistogram
        Their histogram.
    """

    pixels: np.ndarray
    visible: np.ndarray | None
    vis_colors: np.ndarray
    hist: ColorHistogram


def prepare(image: np.ndarray | Image.Image) -> Prepared:
    """Count an image's visible colors once, for several :func:`quantize` calls."""
    pixels = as_pixels(image)
    flat = pixels.reshape(-1, pixels.shape[2])
    visible = flat[:, 3] > 0 if flat.shape[1] == 4 else None
    if visible is not None and visible.all():
        visible = None
    vis_colors = flat if visible is None else flat[visible]
    hist = color_histogram(vis_colors)
    release_free_memory(flat.shape[0])  # the counting threads' temporaries
    return Prepared(pixels, visible, vis_colors, hist)


def quantize(
    image: np.ndarray | Image.Image | Prepared,
    k: int = DEFAULT_COLORS,
    *,
    options: FitOptions | None = None,
    palette: np.ndarray | None = None,
    dither: str = DEFAULT_DITHER,
    dither_strength: float = DEFAULT_DITHER_STRENGTH,
    progress: Callable[[Stage], None] | None = None,
    init: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    whole_palette: bool = False,
    transparent_entry: bool = False,
    hold: tuple[np.ndarray, np.ndarray] | None = None,
    **fit: Any,
) -> Quantized:
    """Reduce an image to at most ``k`` colors.

    Parameters
    ----------
    image : ndarray, PIL.Image.Image or Prepared
        See :func:`as_pixels` (or :func:`prepare`, to count colors once for many
        calls). With 4 channels, pixels with alpha 0 are transparent:
        they share one extra palette entry and take none of the ``k`` colors, except
        that palette and transparent entry together stay within 256 entries when
        ``k <= 256`` (so ``k=256`` leaves 255 visible colors).
    k : int
        Maximum number of visible colors, 1 <= k <= 65536.
    options : FitOptions or None
        How to fit the palette; default ``FitOptions()``.
    palette : (P, 3) or (P, C) uint8 array or None
        Map onto these colors instead of fitting (``k`` is then not used); RGB rows
        are opaque entries with alpha. Unused colors are dropped unless
        ``whole_palette``.
    dither : {"none", "floyd-steinberg", "adaptive"}
        Floyd-Steinberg error diffusion onto the palette (:mod:`kquant.dither`), in
        the space colors are matched in; transparent pixels stay transparent and
        pass no error on. The distortion is then measured pixel by pixel on the
        dithered result, which has a higher MSE but fewer bands.
    dither_strength : float in [0, 1]
        Fraction of the error diffused; 0 is the same as no dithering.
    progress : callable or None
        Called with :attr:`Stage.FIT <kquant.stages.Stage>` and then ``Stage.MAP``
        as each stage starts.
    init : (k, D) float64 ndarray or None
        Start the k-means fit from these centers, points of the fit space
        (:func:`kquant.spaces.features`; RGB values for opaque RGB), skipping the
        coarse fit (see :func:`kquant.codebook.fit_codebook`).
    keep : (N, 3) uint8 array or None
        Colors that must be in the palette exactly (opaque): they count toward
        ``k`` and the other ``k - N`` are fitted around them (see
        :func:`fit_palette`); pixels of exactly these colors keep them. Kept even
        where no pixel uses them. With ``palette``, added to it.
    whole_palette : bool
        With ``palette``: write it as given, every row in its order (unused ones
        too), so several images share index for index (frames of an animation, a
        set of sprites). The distinct colors used are ``colors_out``.
    transparent_entry : bool
        Reserve the transparent entry even when no pixel is transparent, so images
        of a set that has transparency share the same rows. It is row 0, or the
        last row with ``whole_palette``.
    hold : ((H, W) bool ndarray, (H, W) integer ndarray) or None
        With ``whole_palette`` and dithering: pixels that keep the given indices
        (rows of the written palette) and take no part in the diffusion. An
        animation holds the pixels that did not change since the previous frame, so
        that dithering noise stays still where the picture does.
    **fit
        Fields of :class:`kquant.settings.FitOptions` to set or override:
        ``method`` ("kmeans", "minibatch", "random"), ``space`` ("rgb", "lab", "weighted"),
        ``sample`` (pixels to fit on, None for all), ``init``, ``n_init``,
        ``max_iter``, ``tol``, ``seed``.

    Returns
    -------
    Quantized

    Raises
    ------
    kquant.errors.UsageError
        For a bad argument (a ValueError).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 4, 3), np.uint8); img[:, 2:] = (200, 30, 30)
    >>> q = quantize(img, k=8)
    >>> q.colors_out, q.distortion.mse
    (2, 0.0)
    """
    check_colors(k)
    check_dither(dither, dither_strength)
    if whole_palette and palette is None:
        raise UsageError("whole_palette needs a palette", params=("whole_palette",))
    if hold is not None and not whole_palette:
        raise UsageError("hold needs whole_palette", params=("hold",))
    options = dataclasses.replace(options or FitOptions(), **fit)
    report_stage = progress or (lambda stage: None)
    report_stage(Stage.FIT)
    t0 = time.perf_counter()
    if options.method != "random":
        start_import()
    prep = image if isinstance(image, Prepared) else prepare(image)
    height, width, channels = prep.pixels.shape
    flat = prep.pixels.reshape(-1, channels)
    visible, vis_colors, hist = prep.visible, prep.vis_colors, prep.hist
    has_transparent = visible is not None or transparent_entry
    if has_transparent and k <= INDEXED_LIMIT:
        k = min(k, INDEXED_LIMIT - 1)

    points = features(hist.colors, options.space)  # None: opaque RGB, compared as integers
    kept = _kept(keep, channels)
    if palette is not None:  # map onto the given palette, no fit
        palette = given_palette(palette, channels, keep)
        fitted, fit_pixels = True, 0
    else:
        fit_hist, fit_pixels = _fit_histogram(vis_colors, hist, k, options)
        palette, fitted = _fit_palette(hist, k, options, points, kept, init, fit_hist)
        fit_pixels = fit_pixels if fitted else 0
    exact = not fitted and kept is None  # the palette is the histogram's colors, in order
    t1 = time.perf_counter()
    report_stage(Stage.MAP)

    if exact:
        labels = np.arange(hist.n_colors, dtype=np.int32)
    elif points is None:
        labels = nearest_index(hist.colors, palette)
    else:
        labels = _nearest_keeping_opaque(hist.colors, points, palette, options.space)
    dithered = dither != "none" and fitted and dither_strength > 0
    n_kept = 0 if kept is None else kept.shape[0]
    if dithered:  # per pixel: the error depends on the neighbours, not only the color
        release_free_memory(flat.shape[0])  # the fit's temporaries, before the indices
        fixed = None if kept is None else np.isin(pack(hist.colors), pack(kept))
        labels = _dither(prep, points, palette, labels, options.space, dither_strength,
                         adaptive=dither == "adaptive", hold=hold, fixed=fixed)  # fmt: skip
        if not whole_palette:
            palette, labels = _order_palette(palette, labels, always=n_kept)
        distortion = label_distortion(vis_colors, palette, labels)
    else:
        if not whole_palette:
            palette, labels = _order_palette(palette, labels, hist.counts, always=n_kept)
        distortion = distortion_from_histogram(hist.colors, hist.counts, palette[labels])

    release_free_memory(flat.shape[0])  # what the fit and the measures freed, before the indices
    # the transparent entry is row 0 (tRNS stays short), or last with a whole palette
    # (the given rows keep their indices in every image of a set)
    n_visible = palette.shape[0]
    n_entries = n_visible + (1 if has_transparent else 0)
    transparent = None if not has_transparent else n_visible if whole_palette else 0
    offset = 1 if transparent == 0 else 0
    dtype = np.uint8 if n_entries <= INDEXED_LIMIT else np.uint16
    index = np.full(flat.shape[0], transparent or 0, dtype=dtype)
    labels = labels.astype(dtype)  # then shifted in place: one copy of the small type
    if offset:
        labels += dtype(offset)
    pixel_labels = labels if dithered else lookup(hist, vis_colors, labels)
    if visible is not None:
        index[visible] = pixel_labels
    else:
        index = pixel_labels
    if has_transparent:
        clear = np.zeros((1, channels), np.uint8)
        palette = np.vstack([palette, clear] if whole_palette else [clear, palette])
    t2 = time.perf_counter()

    return Quantized(
        palette=palette,
        indices=index.reshape(height, width),
        transparent_index=transparent,
        colors_in=hist.n_colors,
        colors_out=int(np.unique(pixel_labels).size) if whole_palette else n_visible,
        distortion=distortion,
        fit_pixels=fit_pixels,
        seconds={"fit": t1 - t0, "map": t2 - t1},
    )


#: Errors above this many times the undithered mean squared error are diffused at 3/4
#: (libimagequant's factor). Measured on china.jpg at k=64 against no damping: SSIM
#: 0.864 -> 0.897, blurred SSIM 0.985 -> 0.990, blurred CIEDE2000 2.11 -> 2.10;
#: factors 1.2 to 5 changed these by less than 0.01.
DITHER_DAMPING = 2.4
#: A pixel whose diffused error (squared, summed over channels, on the 0-255 scale)
#: is below this gets none of it: libimagequant's "don't dither areas that don't
#: have noticeable error", which keeps flat areas the palette nearly reproduces
#: flat and the file smaller. libimagequant's own threshold is about 2 on this
#: scale; 4 (an error of 2 levels) measured on the benchmark corpus in the weighted
#: space at k = 64 (issue 22, docs/BENCHMARKS.md): a screenshot's bytes over
#: ``--dither none`` 1.11x -> 1.03x; photos 16 of 16 above pngquant's default at
#: k = 64 and 256 with it (8 loses up to 2.9 points), at 0.977x and 0.946x its bytes
#: (1.005x and 1.010x without the zone).
DITHER_DEAD_ZONE = 4.0


def _dither(
    prep: Prepared,
    points: np.ndarray | None,
    palette: np.ndarray,
    labels: np.ndarray,
    space: str,
    strength: float,
    *,
    adaptive: bool = False,
    hold: tuple[np.ndarray, np.ndarray] | None = None,
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """(V,) int16 palette rows of the visible pixels (int32 from 32,767 rows), dithered
    by Floyd-Steinberg (with ``adaptive``, each pixel's error scaled by
    :func:`kquant.dithermap.dither_map`). Pixels of ``hold``'s mask keep its rows, and
    pixels of the histogram colors ``fixed`` (kept colors) their undithered rows;
    neither passes error on.

    The error is diffused in the space colors are matched in: exact integer RGB or
    the weighted space's 8-bit levels (:func:`kquant.spaces.channel_levels`) when
    every visible pixel and every row is opaque (transparent pixels are skipped),
    else the points of :func:`kquant.spaces.features` (premultiplied with alpha,
    Lab with ``space="lab"``). Values are kept within the range of the image's own
    colors. ``labels`` (M,) are the undithered palette rows of the histogram's
    colors: errors above :data:`DITHER_DAMPING` times their mean squared error are
    damped (:func:`kquant.dither.floyd_steinberg`).
    """
    hist = prep.hist
    height, width = prep.pixels.shape[:2]
    values, palette, pal, colors, levels = _dither_space(prep, points, palette, space)
    low, high = colors.min(axis=0), colors.max(axis=0)
    if fixed is not None and fixed.any():  # kept colors keep their rows
        hold = _with_fixed(prep, labels, fixed, hold)
    skip = None if prep.visible is None else ~prep.visible.reshape(height, width)
    if hold is not None:
        skip = hold[0] if skip is None else skip | hold[0]
    keep_opaque = None
    if palette.shape[1] == 4:  # opaque pixels only onto opaque rows (alpha 255 stays 255)
        keep_opaque = (prep.pixels[..., 3] == 255, palette[:, 3] == 255)
    diff = colors - pal[labels].astype(np.float64)
    mean_sq = float(np.dot(np.einsum("ij,ij->i", diff, diff), hist.counts) / hist.n_pixels)
    if adaptive:  # libimagequant's dither map: full strength in bands only
        from kquant.dithermap import dither_map

        undithered = np.zeros(height * width, np.int32) - 1
        rows = lookup(hist, prep.vis_colors, labels.astype(np.int32))
        if prep.visible is None:
            undithered[:] = rows
        else:
            undithered[prep.visible] = rows
        per_pixel = dither_map(prep.pixels, undithered.reshape(height, width))
        strength = strength * per_pixel  # type: ignore[assignment]
    index = floyd_steinberg(
        values,
        pal,
        strength=strength,
        skip=skip,
        low=low,
        high=high,
        max_error=DITHER_DAMPING * mean_sq,
        restrict=keep_opaque,
        dead_zone=DITHER_DEAD_ZONE * (alpha_scale(space) / 255.0) ** 2,
        levels=levels,
    )
    if hold is not None:
        index[hold[0]] = hold[1][hold[0]]
    index = index.reshape(-1)
    return index if prep.visible is None else index[prep.visible]


def _dither_space(
    prep: Prepared, points: np.ndarray | None, palette: np.ndarray, space: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """What :func:`_dither` diffuses in: the image's values, the palette as written and
    as points, the histogram's colors as points, and the 8-bit levels (or None).

    Every visible pixel and every row opaque, in RGB or the weighted space: uint8 RGB
    values (alpha dropped, transparent pixels skipped by the caller) on the exact
    table path; else the float points of :func:`kquant.spaces.features` per pixel.
    """
    hist = prep.hist
    height, width, channels = prep.pixels.shape
    opaque = channels == 3 or bool((hist.colors[:, 3] == 255).all() & (palette[:, 3] == 255).all())
    levels = channel_levels(space)
    if opaque and (space == "rgb" or levels is not None):  # 8-bit values, exact table
        values = prep.pixels if channels == 3 else np.ascontiguousarray(prep.pixels[..., :3])
        palette = palette[:, :3]
        colors = features(hist.colors[:, :3], space)
        colors = hist.colors[:, :3].astype(np.float64) if colors is None else colors
        pal = palette if levels is None else cast(np.ndarray, features(palette, space))
    else:
        assert points is not None  # colors with alpha, or Lab: compared as points
        levels = None
        rows = lookup(hist, prep.vis_colors, np.arange(hist.n_colors, dtype=np.int32))
        values = np.zeros((height * width, points.shape[1]))
        if prep.visible is None:
            values[:] = points[rows]
        else:
            values[prep.visible] = points[rows]
        values = values.reshape(height, width, -1)
        pal, colors = cast(np.ndarray, features(palette, space)), points
    return values, palette, pal, colors, levels


def _with_fixed(
    prep: Prepared,
    labels: np.ndarray,
    fixed: np.ndarray,
    hold: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``hold`` ((H, W) mask, (H, W) rows) widened to the pixels whose histogram color
    is ``fixed`` ((M,) bool), each with its undithered row of ``labels`` (M,)."""
    height, width = prep.pixels.shape[:2]
    mask = np.zeros(height * width, bool)
    rows = np.zeros(height * width, np.int32)
    at = slice(None) if prep.visible is None else prep.visible
    mask[at] = lookup(prep.hist, prep.vis_colors, fixed.astype(np.uint8))
    rows[at] = lookup(prep.hist, prep.vis_colors, labels.astype(np.int32))
    mask, rows = mask.reshape(height, width), rows.reshape(height, width)
    if hold is None:
        return mask, rows
    return mask | hold[0], np.where(mask, rows, hold[1])


def _opaque_rows(
    palette: np.ndarray, hist: ColorHistogram, points: np.ndarray, space: str
) -> np.ndarray:
    """Make the palette rows that stand mostly for opaque pixels opaque.

    Centers fitted on premultiplied points average the alpha of their members, so a
    row standing for opaque pixels and a few soft-edge ones gets alpha 253 or so and
    opaque pixels would come out see-through. Each row whose pixels (nearest, by
    count) are mostly opaque becomes the mean of its opaque pixels, with alpha 255;
    if no row qualifies but some pixels are opaque, the row with the most opaque
    pixels does. Opaque pixels are then matched among opaque rows only
    (:func:`_nearest_keeping_opaque`).

    Parameters
    ----------
    palette : (P, 4) uint8 ndarray
    hist : ColorHistogram of (M, 4) RGBA colors
    points : (M, 4) float64 ndarray, ``features(hist.colors, space)``

    Returns
    -------
    (P', 4) uint8 ndarray, P' <= P
    """
    opaque = hist.colors[:, 3] == 255
    if not opaque.any():
        return palette
    labels = nearest_index(points, cast(np.ndarray, features(palette, space)))  # RGBA: points
    counts = hist.counts.astype(np.float64)
    n_rows = palette.shape[0]
    w_opaque = np.bincount(labels, counts * opaque, minlength=n_rows)
    w_all = np.bincount(labels, counts, minlength=n_rows)
    snap = 2 * w_opaque > w_all
    if not snap.any():
        snap[np.argmax(w_opaque)] = True
    rows = np.flatnonzero(snap)
    members = opaque & snap[labels]
    weights = counts * members
    means = (
        np.stack(
            [np.bincount(labels, weights * points[:, d], minlength=n_rows) for d in range(4)],
            axis=1,
        )[rows]
        / w_opaque[rows, None]
    )
    centers = palette.astype(np.float64)
    centers[rows] = from_features(means, space, 4)
    centers[rows, 3] = 255.0
    return round_palette(centers)


def _nearest_keeping_opaque(
    colors: np.ndarray, points: np.ndarray, palette: np.ndarray, space: str
) -> np.ndarray:
    """(M,) int32 nearest palette rows of ``colors`` (M, C) uint8, compared as
    ``points``; with alpha, fully opaque colors only among fully opaque rows, so
    alpha 255 stays 255 (other colors among all rows)."""
    feats = cast(np.ndarray, features(palette, space))  # compared as points
    labels = nearest_index(points, feats)
    if colors.shape[1] == 4:
        opaque = colors[:, 3] == 255
        allowed = np.flatnonzero(palette[:, 3] == 255)
        if opaque.any() and allowed.size:
            labels[opaque] = allowed[nearest_index(points[opaque], feats[allowed])]
    return labels


def _as_channels(palette: Any, channels: int, name: str = "palette") -> np.ndarray:
    """A (P, 3) RGB palette as (P, channels), opaque (a (P, 4) one is taken as it
    is with alpha); duplicates dropped, order kept."""
    palette = np.asarray(palette, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] not in (3, channels) or palette.shape[0] == 0:
        raise UsageError(
            f"{name} must be a non-empty (P, 3) uint8 array, got {palette.shape}",
            params=(name,),
        )
    palette = round_palette(palette.astype(np.float64))
    if channels == 4 and palette.shape[1] == 3:
        palette = np.hstack([palette, np.full((palette.shape[0], 1), 255, np.uint8)])
    return palette


def _kept(keep: Any, channels: int) -> np.ndarray | None:
    """Kept colors as (N, channels) uint8 rows (opaque), or None for none."""
    return None if keep is None or not len(keep) else _as_channels(keep, channels, "keep_colors")


def given_palette(palette: Any, channels: int, keep: Any = None) -> np.ndarray:
    """A given palette as it is written: the kept colors first, then its rows, as
    (P, channels) uint8 (RGB rows opaque), duplicates dropped, order kept."""
    palette = _as_channels(palette, channels)
    kept = _kept(keep, channels)
    return palette if kept is None else round_palette(np.vstack([kept, palette]).astype(np.float64))


def fit_palette(
    hist: ColorHistogram,
    k: int = DEFAULT_COLORS,
    options: FitOptions | None = None,
    *,
    keep: np.ndarray | None = None,
    order: bool = True,
) -> np.ndarray:
    """Fit a palette of at most ``k`` visible colors to a color histogram.

    What :func:`quantize` does before mapping, for histograms that are not one
    image's: the frames of an animation, a set of images
    (:func:`kquant.colors.merge_histograms`).

    Parameters
    ----------
    hist : ColorHistogram
        Visible colors (RGB, or RGBA with alpha > 0) and their counts (pixels, or
        any positive weights).
    k : int
    options : FitOptions or None
    keep : (N, 3) uint8 array or None
        Colors kept exactly (see :func:`quantize`); they are the first N rows
        unless ``order``.
    order : bool
        Order rows as written: translucent first, then by weight (ties by color);
        unused rows dropped, kept colors never.

    Returns
    -------
    (P, C) uint8 ndarray, P <= k
        The histogram's own colors when it has at most ``k`` (with the kept ones).

    >>> from kquant.colors import color_histogram
    >>> img = np.array([[0, 0, 0]] * 3 + [[250, 250, 250]] * 2 + [[255, 0, 0]], np.uint8)
    >>> fit_palette(color_histogram(img), 2, keep=[(255, 0, 0)]).tolist()
    [[117, 117, 117], [255, 0, 0]]
    >>> rgb = FitOptions(space="rgb")  # the mean of 3 blacks and 2 grays 250 in sRGB values
    >>> fit_palette(color_histogram(img), 2, rgb, keep=[(255, 0, 0)]).tolist()
    [[100, 100, 100], [255, 0, 0]]
    """
    check_colors(k)
    options = options or FitOptions()
    kept = _kept(keep, hist.channels)
    points = features(hist.colors, options.space)
    palette = _fit_palette(hist, k, options, points, kept, None, hist)[0]
    if not order:
        return palette
    labels = match_colors(hist.colors, palette, options.space)
    n_kept = 0 if kept is None else kept.shape[0]
    return _order_palette(palette, labels, hist.counts, always=n_kept)[0]


def match_colors(colors: np.ndarray, palette: np.ndarray, space: str = "rgb") -> np.ndarray:
    """The palette row each color is written as, by the rule of :func:`quantize`:
    the nearest in ``space`` (exact integer RGB for opaque RGB); with alpha, opaque
    colors among opaque rows only.

    Parameters
    ----------
    colors : (M, C) uint8 ndarray
    palette : (P, C) uint8 ndarray

    Returns
    -------
    (M,) int32 ndarray
    """
    points = features(colors, space)
    if points is None:
        return nearest_index(colors, palette)
    return _nearest_keeping_opaque(colors, points, palette, space)


def _fit_palette(
    hist: ColorHistogram,
    k: int,
    options: FitOptions,
    points: np.ndarray | None,
    kept: np.ndarray | None,
    init: np.ndarray | None,
    fit_hist: ColorHistogram,
) -> tuple[np.ndarray, bool]:
    """The palette (P, C) uint8 for ``hist`` and whether it was fitted (False: the
    histogram's colors, after the kept ones, in order). ``fit_hist`` is what the
    codebook is fitted on (``hist`` or a sample of its pixels); ``kept`` (N, C)
    uint8 rows come first, exactly, and the other ``k - N`` are fitted on the colors
    other than them, then moved to fit around them (:func:`kquant.codebook.fit_around`).
    """
    n_kept = 0 if kept is None else kept.shape[0]
    if n_kept > k:
        raise UsageError(f"{n_kept} kept colors do not fit in k={k}", params=("keep_colors",))
    if kept is None:
        rest, rest_fit, rest_points = hist, fit_hist, points
    else:
        mine = np.isin(hist.keys, pack(kept))
        rest = hist.subset(~mine)
        rest_points = None if points is None else points[~mine]
        rest_fit = (
            rest if fit_hist is hist else fit_hist.subset(~np.isin(fit_hist.keys, pack(kept)))
        )
    if rest.n_colors <= k - n_kept:
        palette = rest.colors if kept is None else np.vstack([kept, rest.colors])
        return palette, False
    if k == n_kept:
        return kept, True  # type: ignore[return-value]
    fit_points = rest_points if rest_fit is rest else features(rest_fit.colors, options.space)
    if rest_fit.n_colors <= k - n_kept:  # a sample with too few colors: fit on them all
        rest_fit, fit_points = rest, rest_points
    centers = fit_codebook(rest_fit, k - n_kept, options, fit_points, init=init)
    if kept is not None and options.method != "random":
        fixed = kept.astype(np.float64) if points is None else features(kept, options.space)
        assert fixed is not None  # kept colors have the image's channels: points if it has
        centers = fit_around(hist, centers, fixed, options, points)
    if points is not None:
        centers = from_features(centers, options.space, hist.channels)
    palette = round_palette(centers)
    if hist.channels == 4:
        palette = _opaque_rows(palette, rest, cast(np.ndarray, rest_points), options.space)
    if kept is not None:
        palette = round_palette(np.vstack([kept, palette]).astype(np.float64))
    return palette, True


def _fit_histogram(
    vis_colors: np.ndarray,
    hist: ColorHistogram,
    k: int,
    options: FitOptions,
) -> tuple[ColorHistogram, int]:
    """The histogram to fit on, and how many pixels it holds.

    A seeded sample of ``options.sample`` pixels when that is fewer than all and still has
    more than ``k`` distinct colors; otherwise the histogram of every pixel.
    """
    n, sample = vis_colors.shape[0], options.sample
    if options.method == "random" or sample is None or sample >= n:
        return hist, n
    rng = np.random.default_rng(options.seed)
    rows = np.sort(rng.choice(n, size=sample, replace=False))
    sub = color_histogram(vis_colors[rows])
    if sub.n_colors <= k:
        return hist, n
    return sub, sample


def _order_palette(
    palette: np.ndarray, labels: np.ndarray, counts: np.ndarray | None = None, always: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Drop unused palette rows (but never the first ``always``) and order the rest.

    Rows with alpha < 255 come first (PNG's tRNS chunk then stays short), then rows
    by descending pixel count; ties by color, so the order is deterministic.

    ``labels`` (M,) are palette rows of histogram rows with ``counts``, or of pixels
    (``counts`` None). Returns the new palette (P', C) uint8 and labels (M,) pointing
    into it, of ``labels``' integer type (at least int16).
    """
    if counts is None:
        usage = _row_counts(labels, palette.shape[0])
    else:
        usage = np.bincount(labels, weights=counts, minlength=palette.shape[0])
    used = np.flatnonzero((usage > 0) | (np.arange(usage.size) < always))
    opaque = palette[used, 3] == 255 if palette.shape[1] == 4 else np.ones(used.size, bool)
    channels_rev = [palette[used, c] for c in reversed(range(palette.shape[1]))]
    order = used[np.lexsort((*channels_rev, -usage[used], opaque))]
    remap = np.empty(palette.shape[0], dtype=np.result_type(labels.dtype, np.int16))
    remap[order] = np.arange(order.size, dtype=np.int32)
    return palette[order], remap[labels]


def quantize_to_target(
    image: np.ndarray | Image.Image | Prepared,
    max_k: int = DEFAULT_COLORS,
    *,
    target_psnr: float | None = None,
    max_mse: float | None = None,
    options: FitOptions | None = None,
    dither: str = DEFAULT_DITHER,
    dither_strength: float = DEFAULT_DITHER_STRENGTH,
    keep: np.ndarray | None = None,
    **fit: Any,
) -> tuple[int, Quantized, bool]:
    """The smallest k (up to ``max_k``) whose result reaches a quality target.

    The palette is fitted once at ``max_k``; if that misses the target, it is
    returned with ``False``. Otherwise k is searched assuming quality grows with k:
    each k tried starts from the ``max_k`` centers merged down to k by Ward's rule
    (:class:`kquant.merging.WardTree`; k-means only, up to :data:`MAX_MERGED_K`
    colors) and is refined by a short warm-started k-means, and the next k is
    predicted from the qualities measured so far (a secant on log k; PSNR grows by
    about 2 dB per doubling of k), falling back to bisection when two predictions in
    a row do not halve the bracket. About 3-4 short fits instead of log2(max_k) full
    ones.
    Every verdict is the exact quality of the result, as it would be written.

    Parameters
    ----------
    image, options, dither, dither_strength, keep, **fit
        As for :func:`quantize`. With kept colors every k tried is fitted from
        scratch (merged centers would move them).
    max_k : int
        Largest k tried.
    target_psnr : float or None
        Reach at least this PSNR in dB (a lossless result always does).
    max_mse : float or None
        Or: reach at most this MSE. Exactly one of the two targets is given.

    Returns
    -------
    (int, Quantized, bool)
        The chosen k, its result, and whether it meets the target.

    Examples
    --------
    >>> six = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255],
    ...                 [255, 255, 0], [0, 255, 255]], np.uint8)
    >>> img = six[np.arange(600).reshape(20, 30) % 6]
    >>> k, q, met = quantize_to_target(img, 64, target_psnr=60)
    >>> k, met, q.distortion.psnr
    (6, True, None)
    """
    if (target_psnr is None) == (max_mse is None):
        raise UsageError(
            "give exactly one of target_psnr and max_mse", params=("target_psnr", "max_mse")
        )
    options = dataclasses.replace(options or FitOptions(), **fit)
    prep = image if isinstance(image, Prepared) else prepare(image)  # colors counted once
    goal = target_psnr if target_psnr is not None else _psnr_of(max_mse)  # type: ignore[arg-type]

    def meets(q: Quantized) -> bool:
        d = q.distortion
        if target_psnr is not None:
            return d.psnr is None or d.psnr >= target_psnr
        return d.mse <= max_mse  # type: ignore[operator]

    draw: dict[str, Any] = {"dither": dither, "dither_strength": dither_strength, "keep": keep}
    tried: dict[int, Quantized] = {max_k: quantize(prep, max_k, options=options, **draw)}
    if not meets(tried[max_k]):
        return max_k, tried[max_k], False
    merge = prep.hist.n_colors > max_k and (keep is None or not len(keep))
    tree = _merge_tree(tried[max_k], options) if merge else None

    def at(k: int) -> Quantized:
        if k not in tried:
            init = None if tree is None else tree.centers(k)
            tried[k] = quantize(prep, k, options=options, init=init, **draw)
        return tried[k]

    low, high = 0, max_k  # low misses (0: none known yet), high meets
    guess, stalls, step = _predict(low, high, tried, goal), 0, 1
    while high - low > 1:
        k = min(max(guess, low + 1), high - 1)
        width = high - low
        if meets(at(k)):
            high = k
        else:
            low = k
        guess = _predict(low, high, tried, goal)
        if low == 0:  # nothing missed yet: step down, further each time, to find a miss
            guess, step = min(guess, high - step), 2 * step
        else:  # twice in a row without halving the bracket: bisect
            stalls = stalls + 1 if 2 * (high - low) > width else 0
            guess = (low + high) // 2 if stalls >= 2 else guess
    return high, tried[high], True


#: Quality targets start from merged palettes only up to this many colors (merging is
#: O(K^2) in memory and time); above it every k tried is fitted from scratch.
MAX_MERGED_K = 1024

#: PSNR gained per doubling of k, for the first prediction (about 2 dB measured on
#: photos: 3-D quantization error falls as k^(-2/3), 10 log10(2^(2/3)) = 2.0 dB).
PSNR_PER_DOUBLING = 2.0


def _psnr_of(mse: float) -> float:
    return float("inf") if mse <= 0 else 10 * np.log10(255.0**2 / mse)


def _quality(q: Quantized) -> float:
    return float("inf") if q.distortion.psnr is None else q.distortion.psnr


def _predict(low: int, high: int, tried: dict[int, Quantized], goal: float) -> int:
    """The k expected to reach ``goal`` dB, from the results at ``low`` (missed; 0:
    none) and ``high`` (met): a secant through both on log2 k, or the mean slope from
    ``high`` alone; rounded up, since the answer is the smallest k that meets."""
    p_high = _quality(tried[high])
    if not np.isfinite(goal) or not np.isfinite(p_high):
        return (low + high) // 2
    if low == 0:
        log_k = np.log2(high) + (goal - p_high) / PSNR_PER_DOUBLING
    else:
        p_low = _quality(tried[low])
        if p_high <= p_low:
            return (low + high) // 2
        log_k = np.log2(low) + (goal - p_low) * (np.log2(high) - np.log2(low)) / (p_high - p_low)
    return int(np.ceil(2.0**log_k - 1e-9))


def _row_counts(labels: np.ndarray, rows: int) -> np.ndarray:
    """(rows,) int64 pixels of each row in ``labels`` (any shape, small integers),
    in blocks: ``np.bincount`` makes an intp copy of its input (8 bytes a pixel)."""
    flat, step, usage = labels.reshape(-1), 1 << 20, np.zeros(rows, np.int64)
    for i in range(0, flat.size, step):
        usage += np.bincount(flat[i : i + step], minlength=rows)
    return usage


def _merge_tree(q: Quantized, options: FitOptions):
    """A :class:`kquant.merging.WardTree` of ``q``'s visible palette rows in the fit
    space, weighted by their pixels (of the dithered result when it is: near the
    clusters' sizes, and only a warm start); None where merging does not apply
    (methods other than k-means, more than :data:`MAX_MERGED_K` rows)."""
    from kquant.merging import WardTree

    rows = np.arange(q.palette.shape[0])
    if q.transparent_index is not None:
        rows = rows[rows != q.transparent_index]
    if options.method != "kmeans" or not 1 < rows.size <= MAX_MERGED_K:
        return None
    weights = _row_counts(q.indices, q.palette.shape[0])[rows]
    palette = q.palette[rows]
    points = features(palette, options.space)
    centers = palette.astype(np.float64) if points is None else points
    return WardTree(centers[weights > 0], weights[weights > 0])
