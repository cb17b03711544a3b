"""Step two of quantizing: an image (:class:`~kquant.core.histogram.Prepared`) and a
:class:`~kquant.core.fit.Palette` in, palette indices and their distortion out.

Each distinct color is mapped to its exact nearest row (:mod:`kquant.core.mapping`), in
the space the palette was fitted in; with alpha, opaque colors only onto opaque rows
(:func:`match_colors`), so alpha 255 stays 255. Pixels take their color's row
through a lookup table (:func:`kquant.core.colors.lookup`), or, dithered, row by row
from Floyd-Steinberg error diffusion (:func:`_dither`). Unused rows are then
dropped and the rest ordered (:func:`order_rows`) unless the palette is written
whole; the transparent entry is added; the distortion is measured.

Dithering runs only where there is error to diffuse: :func:`dither_strength` is
the one rule for the strength actually used (0 without dithering, or when the
palette reproduces every color exactly).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

from kquant.core.colors import lookup, pack
from kquant.core.dither import floyd_steinberg
from kquant.core.histogram import Prepared, index_dtype
from kquant.core.mapping import NearestPalette, nearest_index
from kquant.core.memory import release_free_memory
from kquant.core.metrics import Distortion, distortion_from_histogram, label_distortion
from kquant.core.spaces import alpha_scale, channel_levels, features
from kquant.defaults import DEFAULT_DITHER, DEFAULT_DITHER_STRENGTH

if TYPE_CHECKING:
    from PIL import Image

    from kquant.core.fit import Palette

__all__ = ["Quantized", "dither_strength", "match_colors", "order_rows", "remap", "row_counts"]


@dataclass(frozen=True)
class Quantized:
    """The result of :func:`remap` (and so of :func:`kquant.quantize`).

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
    dither_strength : float
        The share of error diffused (:func:`dither_strength`): 0 undithered.
    """

    palette: np.ndarray
    indices: np.ndarray
    transparent_index: int | None
    colors_in: int
    colors_out: int
    distortion: Distortion
    fit_pixels: int
    seconds: dict[str, float] = field(default_factory=dict)
    dither_strength: float = 0.0

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
        >>> from kquant import quantize
        >>> img = np.zeros((2, 2, 3), np.uint8); img[1] = 255
        >>> im = quantize(img, k=2).to_image()
        >>> im.mode, im.size, sorted(im.getcolors())
        ('P', (2, 2), [(2, 0), (2, 1)])
        """
        from kquant.io.images import to_pil

        return to_pil(self.palette, self.indices, "PNG")


def dither_strength(dither: str, strength: float, exact: bool) -> float:
    """The share of error actually diffused: ``strength``, or 0 without dithering or
    when every color is reproduced exactly (no error to diffuse).

    >>> dither_strength("floyd-steinberg", 0.5, False), dither_strength("none", 1.0, False)
    (0.5, 0.0)
    >>> dither_strength("adaptive", 1.0, True)
    0.0
    """
    return strength if dither != "none" and not exact else 0.0


def reproduces(colors: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> bool:
    """Whether every color ((M, C) uint8) is its row ((P, C) uint8; ``labels``
    (M,)) exactly, alpha too."""
    return bool((rows[labels] == colors).all())


def remap(
    prep: Prepared,
    palette: Palette,
    *,
    dither: str = DEFAULT_DITHER,
    strength: float = DEFAULT_DITHER_STRENGTH,
    whole_palette: bool = False,
    hold: tuple[np.ndarray, np.ndarray] | None = None,
    tiles: tuple[int, int] | None = None,
    keep_points: bool = True,
    run_budget: float = 0.0,
) -> Quantized:
    """Map an image onto a palette.

    Parameters
    ----------
    prep : Prepared
    palette : Palette
        From :func:`kquant.core.fit.fit` or :func:`kquant.core.fit.given` (for this image's
        histogram, or one it is part of).
    dither, strength, run_budget
        See :func:`kquant.quantize` (strength: :func:`dither_strength`'s; the runs
        only where every pixel is visible).
    whole_palette : bool
        Write every row in order (unused ones too), the transparent entry last: images
        share index for index (an animation's frames, sprites).
    hold : ((H, W) bool ndarray, (H, W) integer ndarray) or None
        With ``whole_palette`` and dithering: pixels that keep the given indices (rows
        of the written palette) outside the diffusion (an animation's still pixels: the
        noise stays still where the picture does). Applied whenever dithering is asked
        for, even with every color exact; ignored undithered.
    tiles : (h, w) or None
        An animation's mosaic of h x w frames: see ``floyd_steinberg``'s ``tiles``.
    keep_points : bool
        False when ``prep`` is not quantized again: its colors' points (24 bytes a
        color) are dropped before mapping (:func:`_undithered`, :func:`_dither`).

    Returns
    -------
    Quantized, with no ``seconds`` (the caller times the steps)
    """
    hist, vis_colors = prep.hist, prep.vis_colors
    height, width = prep.pixels.shape[:2]
    n_pixels = height * width
    rows, space = palette.rows, palette.space
    labels = _undithered(prep, palette, keep_points=keep_points)
    exact = palette.own_colors or reproduces(hist.colors, rows, labels)
    asked = dither_strength(dither, strength, False)
    strength = dither_strength(dither, strength, exact)
    # held pixels keep their rows whenever dithering is asked for, even with no error
    per_pixel = strength > 0 or (hold is not None and asked > 0)
    if per_pixel:  # the error depends on the neighbours, not only the color
        points = _points_to_dither(prep, rows, space, keep=keep_points)
        fixed = np.isin(pack(hist.colors), pack(palette.kept)) if palette.n_kept else None
        labels = _dither(prep, points, rows, labels, space, asked, tiles=tiles,
                         adaptive=dither == "adaptive", hold=hold, fixed=fixed)  # fmt: skip
        release_free_memory(n_pixels)  # the table of colors met, before the measures
        if not whole_palette:
            rows, labels = order_rows(rows, labels, always=palette.n_kept, overwrite=True)
        distortion = label_distortion(vis_colors, rows, labels)
    else:
        if not whole_palette:
            rows, labels = order_rows(rows, labels, hist.counts, always=palette.n_kept)
        distortion = distortion_from_histogram(hist.colors, hist.counts, rows[labels])
    release_free_memory(n_pixels)  # what the fit and the measures freed, before the indices
    index, pixel_labels, transparent, rows = _with_transparent_entry(
        prep, rows, labels, palette.transparent, whole_palette, dithered=per_pixel
    )
    if run_budget > 0 and not per_pixel and prep.visible is None:
        index, distortion = _continued(prep, rows, index, run_budget)
    n_visible = rows.shape[0] - (transparent is not None)
    return Quantized(
        palette=rows,
        indices=index.reshape(height, width),
        transparent_index=transparent,
        colors_in=hist.n_colors,
        colors_out=int(np.unique(pixel_labels).size) if whole_palette else n_visible,
        distortion=distortion,
        fit_pixels=palette.fit_pixels,
        dither_strength=strength,
    )


def _continued(
    prep: Prepared, rows: np.ndarray, index: np.ndarray, budget: float
) -> tuple[np.ndarray, Distortion]:
    """(H*W,) indices with runs continued within ``budget``
    (:func:`kquant.core.runs.continue_runs`), and their distortion, per pixel."""
    from kquant.core.runs import continue_runs

    height, width = prep.pixels.shape[:2]
    index = continue_runs(prep.pixels, rows, index.reshape(height, width), budget)
    return index.reshape(-1), label_distortion(prep.vis_colors, rows, index.reshape(-1))


def continued(prep: Prepared, q: Quantized, budget: float) -> Quantized:
    """An undithered result of ``prep`` with its runs continued within ``budget``, as
    :func:`remap` with ``run_budget`` makes it (``q``'s indices are changed in place);
    ``q`` itself where runs do not apply (dithered, or transparent pixels)."""
    if budget <= 0 or q.dither_strength > 0 or prep.visible is not None:
        return q
    index, distortion = _continued(prep, q.palette, q.indices, budget)
    return dataclasses.replace(q, indices=index.reshape(q.indices.shape), distortion=distortion)


def _points_to_dither(
    prep: Prepared, rows: np.ndarray, space: str, *, keep: bool
) -> np.ndarray | None:
    """The points :func:`_dither` needs: None on the 8-bit grid
    (:func:`_on_8_bit_grid`), where unless ``keep`` the image's are dropped."""
    if not _on_8_bit_grid(prep, rows, space):
        return prep.points(space)
    if not keep:
        prep.forget_points()
    return None


def _undithered(prep: Prepared, palette: Palette, *, keep_points: bool = True) -> np.ndarray:
    """(M,) int32 palette row of each of the histogram's colors, undithered: the
    nearest (:func:`match_colors`' rule), or each color's own row.

    Unless ``keep_points``, opaque colors in the weighted space are compared as points
    made a block at a time, and any points of the image made so far are dropped: 24
    bytes a color (16.5 MB on a 16 MP photo) the mapping does not need whole."""
    hist, rows, space = prep.hist, palette.rows, palette.space
    if palette.exact:
        return np.arange(hist.n_colors, dtype=np.int32)
    if not keep_points and space == "weighted" and hist.channels == 3:
        prep.forget_points()
        nearest = NearestPalette(cast(np.ndarray, features(rows, space)))
        return nearest(hist.colors, lambda block: cast(np.ndarray, features(block, space)))
    points = prep.points(space)  # None: opaque RGB, compared as integers
    if points is None:
        return nearest_index(hist.colors, rows)
    return _nearest_keeping_opaque(hist.colors, points, rows, space)


def _with_transparent_entry(
    prep: Prepared,
    rows: np.ndarray,
    labels: np.ndarray,
    transparent: bool,
    whole_palette: bool,
    *,
    dithered: bool,
) -> tuple[np.ndarray, np.ndarray, int | None, np.ndarray]:
    """Every pixel's index, from ``labels`` (of the histogram's colors, or of the
    visible pixels when ``dithered``): (H*W,) indices, the visible pixels' indices,
    the transparent row (None without one) and the rows with it.

    The transparent entry is row 0 (PNG's tRNS stays short), or last with a whole
    palette (the given rows keep their indices in every image of a set).
    """
    n_visible = rows.shape[0]
    entry = None if not transparent else n_visible if whole_palette else 0
    dtype = index_dtype(n_visible + transparent)
    # then shifted in place: the dithered labels are this call's own (no copy if
    # they are of the index's type), a histogram's are copied (they are small)
    labels = labels.astype(dtype, copy=not dithered)
    if entry == 0:
        labels += dtype(1)
    pixel_labels = labels if dithered else lookup(prep.hist, prep.vis_colors, labels)
    if prep.visible is not None:
        index = np.full(prep.pixels.shape[0] * prep.pixels.shape[1], entry or 0, dtype=dtype)
        index[prep.visible] = pixel_labels
    else:
        index = pixel_labels
    if transparent:
        clear = np.zeros((1, rows.shape[1]), np.uint8)
        rows = np.vstack([rows, clear] if whole_palette else [clear, rows])
    return index, pixel_labels, entry, rows


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
    tiles: tuple[int, int] | None = None,
) -> np.ndarray:
    """(V,) palette rows of the visible pixels (uint8 up to 256 rows, else int16 or
    int32), dithered by Floyd-Steinberg (with ``adaptive``, each pixel's error scaled by
    :func:`kquant.core.dithermap.dither_map`). Pixels of ``hold``'s mask keep its rows, and
    pixels of the histogram colors ``fixed`` (kept colors) their undithered rows;
    neither passes error on.

    The error is diffused in the space colors are matched in: exact integer RGB or
    the weighted space's 8-bit levels (:func:`kquant.core.spaces.channel_levels`) when
    every visible pixel and every row is opaque (transparent pixels are skipped),
    else the points of :func:`kquant.core.spaces.features` (premultiplied with alpha,
    Lab with ``space="lab"``). Values are kept within the range of the image's own
    colors. ``labels`` (M,) are the undithered palette rows of the histogram's
    colors: errors above :data:`DITHER_DAMPING` times their mean squared error are
    damped (:func:`kquant.core.dither.floyd_steinberg`).
    """
    hist = prep.hist
    height, width = prep.pixels.shape[:2]
    values, palette, pal, colors_at, levels = _dither_space(prep, points, palette, space)
    low, high = _bounds(colors_at, hist.n_colors)
    if fixed is not None and fixed.any():  # kept colors keep their rows
        hold = _with_fixed(prep, labels, fixed, hold)
    skip = None if prep.visible is None else ~prep.visible.reshape(height, width)
    if hold is not None:
        skip = hold[0] if skip is None else skip | hold[0]
    keep_opaque = None
    if palette.shape[1] == 4:  # opaque pixels only onto opaque rows (alpha 255 stays 255)
        keep_opaque = (prep.pixels[..., 3] == 255, palette[:, 3] == 255)
    # not kept: the (M,) errors would stay alive through the diffusion
    mean_sq = float(np.dot(_squared_errors(colors_at, pal, labels), hist.counts) / hist.n_pixels)
    if adaptive:  # libimagequant's dither map: full strength in bands only
        from kquant.core.dithermap import dither_map

        undithered = np.zeros(height * width, np.int32) - 1
        rows = lookup(hist, prep.vis_colors, labels.astype(np.int32))
        if prep.visible is None:
            undithered[:] = rows
        else:
            undithered[prep.visible] = rows
        per_pixel = dither_map(prep.pixels, undithered.reshape(height, width))
        strength = strength * per_pixel  # type: ignore[assignment]
    release_free_memory(prep.hist.n_pixels)  # the fit's and these temporaries, first
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
        tiles=tiles,
        fill=0,  # skipped pixels are dropped below, or held
    )
    if hold is not None:
        index = index.astype(np.promote_types(index.dtype, hold[1].dtype), copy=False)
        index[hold[0]] = hold[1][hold[0]]
    index = index.reshape(-1)
    return index if prep.visible is None else index[prep.visible]


#: Points of a block of the histogram's colors: ``colors_at(slice)`` -> (B, D) float64.
ColorsAt = Callable[[slice], np.ndarray]


def _blocks(n: int) -> Iterator[slice]:
    """Slices of :data:`_COLOR_BLOCK` rows covering ``n``."""
    return (slice(start, start + _COLOR_BLOCK) for start in range(0, n, _COLOR_BLOCK))


#: Histogram colors per block of :func:`_bounds` and :func:`_squared_errors` (their
#: float64 temporaries a few MB, not 24 bytes a color each).
_COLOR_BLOCK = 1 << 16


def _bounds(colors_at: ColorsAt, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(D,) lowest and highest value of each channel of the ``n`` colors' points."""
    lows, highs = [], []
    for block in _blocks(n):  # one block's points at a time
        points = colors_at(block)
        lows.append(points.min(axis=0))
        highs.append(points.max(axis=0))
    return np.min(lows, axis=0), np.max(highs, axis=0)


def _squared_errors(colors_at: ColorsAt, pal: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(M,) float64 squared distance of each of the histogram's colors (points of
    ``colors_at``) to its row ``labels`` (M,) of ``pal`` (P, D), a block at a time
    (no (M, D) temporaries)."""
    out = np.empty(labels.shape[0])
    for block in _blocks(labels.shape[0]):
        diff = colors_at(block) - pal[labels[block]].astype(np.float64)
        np.einsum("ij,ij->i", diff, diff, out=out[block])
    return out


def _on_8_bit_grid(prep: Prepared, palette: np.ndarray, space: str) -> bool:
    """Whether :func:`_dither` diffuses 8-bit values (every visible pixel and every
    row opaque, in RGB or a space of :func:`kquant.core.spaces.channel_levels`): then
    it needs no points of the histogram's colors."""
    hist = prep.hist
    opaque = hist.channels == 3 or bool(
        (hist.colors[:, 3] == 255).all() & (palette[:, 3] == 255).all()
    )
    return opaque and (space == "rgb" or channel_levels(space) is not None)


def _dither_space(
    prep: Prepared, points: np.ndarray | None, palette: np.ndarray, space: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, ColorsAt, np.ndarray | None]:
    """What :func:`_dither` diffuses in: the image's values, the palette as written and
    as points, the histogram's colors as points (a block at a time), and the 8-bit
    levels (or None).

    On the 8-bit grid (:func:`_on_8_bit_grid`): uint8 RGB values (alpha dropped,
    transparent pixels skipped by the caller) on the exact table path, the colors'
    points through the levels (``levels[v, c]`` is ``features``' value: no (M, D)
    array of them); else the float ``points`` of :func:`kquant.core.spaces.features`
    per pixel.
    """
    hist = prep.hist
    height, width, channels = prep.pixels.shape
    levels = channel_levels(space)
    if _on_8_bit_grid(prep, palette, space):
        values = prep.pixels if channels == 3 else np.ascontiguousarray(prep.pixels[..., :3])
        palette = palette[:, :3]
        pal = palette if levels is None else cast(np.ndarray, features(palette, space))
        if levels is None:
            return values, palette, pal, lambda b: hist.colors[b, :3].astype(np.float64), None
        lv = levels
        return values, palette, pal, lambda b: lv[hist.colors[b, :3], _CHANNELS], levels
    assert points is not None  # colors with alpha, or Lab: compared as points
    rows = lookup(hist, prep.vis_colors, np.arange(hist.n_colors, dtype=np.int32))
    values = np.zeros((height * width, points.shape[1]))
    if prep.visible is None:
        values[:] = points[rows]
    else:
        values[prep.visible] = points[rows]
    values = values.reshape(height, width, -1)
    pal = cast(np.ndarray, features(palette, space))
    return values, palette, pal, lambda b: points[b], None


#: The channels of RGB, to index (256, 3) levels with (N, 3) colors.
_CHANNELS = np.arange(3)


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


def match_colors(colors: np.ndarray, palette: np.ndarray, space: str = "rgb") -> np.ndarray:
    """The palette row each color is written as, by the rule of :func:`remap`:
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


def order_rows(
    palette: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray | None = None,
    always: int = 0,
    *,
    overwrite: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop unused palette rows (but never the first ``always``) and order the rest.

    Rows with alpha < 255 come first (PNG's tRNS chunk then stays short), then rows
    by descending pixel count; ties by color, so the order is deterministic.

    ``labels`` (M,) are palette rows of histogram rows with ``counts``, or of pixels
    (``counts`` None). Returns the new palette (P', C) uint8 and labels (M,) pointing
    into it, of ``labels``' integer type (at least int16). With ``overwrite``, the
    labels are rewritten in place, a block at a time, and keep their type (a
    dithered image's labels: no second array of them).
    """
    if counts is None:
        usage = row_counts(labels, palette.shape[0])
    else:
        usage = np.bincount(labels, weights=counts, minlength=palette.shape[0])
    used = np.flatnonzero((usage > 0) | (np.arange(usage.size) < always))
    opaque = palette[used, 3] == 255 if palette.shape[1] == 4 else np.ones(used.size, bool)
    channels_rev = [palette[used, c] for c in reversed(range(palette.shape[1]))]
    order = used[np.lexsort((*channels_rev, -usage[used], opaque))]
    # overwritten labels keep their type: the new rows are fewer than the old
    dtype = labels.dtype if overwrite else np.result_type(labels.dtype, np.int16)
    remap = np.empty(palette.shape[0], dtype=dtype)
    remap[order] = np.arange(order.size, dtype=np.int32)
    if not overwrite:
        return palette[order], remap[labels]
    for start in range(0, labels.size, _BLOCK):
        block = labels[start : start + _BLOCK]
        block[...] = remap[block]
    return palette[order], labels


#: Elements per block of the block-wise passes over every pixel (a few MB of
#: temporaries each, not a copy of the image's size).
_BLOCK = 1 << 18


def row_counts(labels: np.ndarray, rows: int) -> np.ndarray:
    """(rows,) int64 pixels of each row in ``labels`` (any shape, small integers),
    in blocks: ``np.bincount`` makes an intp copy of its input (8 bytes a pixel)."""
    flat, step, usage = labels.reshape(-1), _BLOCK, np.zeros(rows, np.int64)
    for i in range(0, flat.size, step):
        usage += np.bincount(flat[i : i + step], minlength=rows)
    return usage
