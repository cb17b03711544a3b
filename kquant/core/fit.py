"""Step one of quantizing: a :class:`~kquant.core.histogram.Histogram` and fit options in,
a :class:`Palette` out (step two is :func:`kquant.core.remap.remap`).

:func:`fit` fits ``k`` colors with a codebook (:mod:`kquant.core.codebook`), or, when the
histogram has no more colors than that, takes its own colors (then nothing is
fitted and the result is exact); :func:`given` takes a palette as it is. Either way
the kept colors (:meth:`Histogram.add_fixed_colors
<kquant.core.histogram.Histogram.add_fixed_colors>`) come first, exactly, and rows that
stand mostly for opaque pixels are opaque (:func:`_opaque_rows`). Rows are rounded
to uint8 here, so what is measured is what is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from kquant.core.codebook import fit_around, fit_codebook, round_palette
from kquant.core.colors import ColorHistogram, color_histogram, pack
from kquant.core.histogram import Histogram
from kquant.core.mapping import nearest_index
from kquant.core.remap import match_colors, order_rows
from kquant.core.spaces import channel_levels, features, from_features
from kquant.defaults import DEFAULT_COLORS
from kquant.errors import UsageError
from kquant.settings import FitOptions, check_colors

__all__ = ["Palette", "fit", "fit_palette", "given", "given_palette", "in_order"]


@dataclass(frozen=True)
class Palette:
    """The colors an image is mapped onto (:func:`kquant.core.remap.remap`).

    Attributes
    ----------
    rows : (P, C) uint8 ndarray
        The visible colors, kept colors first (C: the histogram's channels).
    own_colors : bool
        The rows are the histogram's own colors (after the kept ones), in its
        order: nothing was fitted.
    fit_pixels : int
        Pixels the codebook was fitted on; 0 when nothing was fitted.
    n_kept : int
        Leading rows that are kept colors.
    space : str
        The space colors are matched in.
    transparent : bool
        A transparent entry goes with the rows (:attr:`Histogram.transparent
        <kquant.core.histogram.Histogram.transparent>`).
    """

    rows: np.ndarray
    own_colors: bool
    fit_pixels: int
    n_kept: int
    space: str
    transparent: bool

    @property
    def exact(self) -> bool:
        """Row ``i`` is the histogram's color ``i``: every color maps to itself."""
        return self.own_colors and self.n_kept == 0

    @property
    def kept(self) -> np.ndarray:
        """(N, C) uint8, the kept colors."""
        return self.rows[: self.n_kept]


def fit(
    histogram: Histogram,
    k: int = DEFAULT_COLORS,
    options: FitOptions | None = None,
    *,
    init: np.ndarray | None = None,
) -> Palette:
    """Fit at most ``k`` visible colors (:meth:`Histogram.limit
    <kquant.core.histogram.Histogram.limit>`: 255 beside a transparent entry) to a
    histogram.

    Parameters
    ----------
    histogram : Histogram
    k : int
    options : FitOptions or None
        ``sample`` draws from the histogram's pixels when it is one image's.
    init : (k, D) float64 ndarray or None
        Start k-means from these centers (see :func:`kquant.core.codebook.fit_codebook`).

    Returns
    -------
    Palette
    """
    check_colors(k)
    options = options or FitOptions()
    hist = histogram.total()
    k = histogram.limit(k)
    kept = _kept(histogram.fixed, hist.channels)
    fit_hist, fit_pixels = _fit_histogram(histogram.pixels, hist, k, options)
    # the opaque colors' points of a space with channel levels are gathered where
    # the fit needs them, not all made first (16.5 MB on a 16 MP photo)
    levels = None
    if kept is None and fit_hist is hist and hist.channels == 3 and options.method == "kmeans":
        levels = channel_levels(options.space)
    points = None if levels is not None else histogram.points(options.space)
    rows, fitted = _fit_palette(hist, k, options, points, kept, init, fit_hist, levels)
    return Palette(
        rows=rows,
        own_colors=not fitted,
        fit_pixels=fit_pixels if fitted else 0,
        n_kept=0 if kept is None else kept.shape[0],
        space=options.space,
        transparent=histogram.transparent,
    )


def given(palette: Any, histogram: Histogram, space: str) -> Palette:
    """A given palette ((P, 3) or (P, C) uint8) as a :class:`Palette` for the
    histogram's images: kept colors first (:func:`given_palette`)."""
    channels = histogram.total().channels
    kept = _kept(histogram.fixed, channels)
    return Palette(
        rows=given_palette(palette, channels, histogram.fixed),
        own_colors=False,
        fit_pixels=0,
        n_kept=0 if kept is None else kept.shape[0],
        space=space,
        transparent=histogram.transparent,
    )


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

    What :func:`fit` does, for a bare color histogram, for histograms that are not one
    image's: the frames of an animation, a set of images
    (:func:`kquant.core.colors.merge_histograms`).

    Parameters
    ----------
    hist : ColorHistogram
        Visible colors (RGB, or RGBA with alpha > 0) and their counts (pixels, or
        any positive weights).
    k : int
    options : FitOptions or None
    keep : (N, 3) uint8 array or None
        Colors kept exactly (:meth:`Histogram.add_fixed_colors
        <kquant.core.histogram.Histogram.add_fixed_colors>`, as ``keep`` of
        :func:`kquant.quantize`); they are the first N rows unless ``order``.
    order : bool
        Order rows as written: translucent first, then by weight (ties by color);
        unused rows dropped, kept colors never.

    Returns
    -------
    (P, C) uint8 ndarray, P <= k
        The histogram's own colors when it has at most ``k`` (with the kept ones).

    >>> from kquant.core.colors import color_histogram
    >>> img = np.array([[0, 0, 0]] * 3 + [[250, 250, 250]] * 2 + [[255, 0, 0]], np.uint8)
    >>> fit_palette(color_histogram(img), 2, keep=[(255, 0, 0)]).tolist()
    [[117, 117, 117], [255, 0, 0]]
    >>> rgb = FitOptions(space="rgb")  # the mean of 3 blacks and 2 grays 250 in sRGB values
    >>> fit_palette(color_histogram(img), 2, rgb, keep=[(255, 0, 0)]).tolist()
    [[100, 100, 100], [255, 0, 0]]
    """
    histogram = Histogram()
    histogram.add(hist)
    histogram.add_fixed_colors(keep)
    palette = fit(histogram, k, options)
    return in_order(palette, hist).rows if order else palette.rows


def in_order(palette: Palette, hist: ColorHistogram) -> Palette:
    """The palette's rows as written for the colors of ``hist``: translucent first,
    then by weight (ties by color); unused rows dropped, kept colors never
    (:func:`kquant.core.remap.order_rows`)."""
    labels = match_colors(hist.colors, palette.rows, palette.space)
    rows = order_rows(palette.rows, labels, hist.counts, always=palette.n_kept)[0]
    return dataclasses.replace(palette, rows=rows)


def _fit_palette(
    hist: ColorHistogram,
    k: int,
    options: FitOptions,
    points: np.ndarray | None,
    kept: np.ndarray | None,
    init: np.ndarray | None,
    fit_hist: ColorHistogram,
    levels: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """The palette (P, C) uint8 for ``hist`` and whether it was fitted (False: the
    histogram's colors, after the kept ones, in order). ``fit_hist`` is what the
    codebook is fitted on (``hist`` or a sample of its pixels); ``kept`` (N, C)
    uint8 rows come first, exactly, and the other ``k - N`` are fitted on the colors
    other than them, then moved to fit around them (:func:`kquant.core.codebook.fit_around`).
    ``levels`` stand for the points of opaque colors, without kept ones or a sample
    (:func:`kquant.core.codebook.fit_codebook`).
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
    centers = fit_codebook(rest_fit, k - n_kept, options, fit_points, init=init, levels=levels)
    if kept is not None and options.method != "random":
        fixed = kept.astype(np.float64) if points is None else features(kept, options.space)
        assert fixed is not None  # kept colors have the image's channels: points if it has
        centers = fit_around(hist, centers, fixed, options, points)
    if points is not None or levels is not None:
        centers = from_features(centers, options.space, hist.channels)
    palette = round_palette(centers)
    if hist.channels == 4:
        palette = _opaque_rows(palette, rest, cast(np.ndarray, rest_points), options.space)
    if kept is not None:
        palette = round_palette(np.vstack([kept, palette]).astype(np.float64))
    return palette, True


def _fit_histogram(
    pixels: np.ndarray | None,
    hist: ColorHistogram,
    k: int,
    options: FitOptions,
) -> tuple[ColorHistogram, int]:
    """The histogram to fit on, and how many pixels it holds.

    A seeded sample of ``options.sample`` of the (V, C) uint8 ``pixels`` when that
    is fewer than all and still has more than ``k`` distinct colors; otherwise the
    histogram of every pixel (always, without ``pixels``).
    """
    n = hist.n_pixels if pixels is None else pixels.shape[0]
    sample = options.sample
    if pixels is None or options.method == "random" or sample is None or sample >= n:
        return hist, n
    rng = np.random.default_rng(options.seed)
    rows = np.sort(rng.choice(n, size=sample, replace=False))
    sub = color_histogram(pixels[rows])
    if sub.n_colors <= k:
        return hist, n
    return sub, sample
