"""Quantize an image array: :func:`quantize` fits a palette and maps every pixel to
its nearest entry, in two steps that other callers use on their own.

Data flow, for an (H, W, C) uint8 image:

1. :func:`kquant.core.histogram.prepare` counts the visible pixels (alpha > 0, or all
   pixels without alpha) into a histogram of distinct colors. Fully transparent
   pixels are set aside: whatever RGB they hide, they share one transparent entry.
2. :func:`kquant.core.fit.fit` turns the image's :class:`~kquant.core.histogram.Histogram`
   into a :class:`~kquant.core.fit.Palette`: the image's own colors when it has at most
   ``k`` (the result is then exact), else a codebook (:mod:`kquant.core.codebook`)
   fitted on every pixel's histogram or on a seeded sample. A given palette
   (:func:`kquant.core.fit.given`) takes the place of the fit.
3. :func:`kquant.core.remap.remap` maps each distinct color to its exact nearest row, or
   dithers pixel by pixel; orders the rows (transparent first, then by use), adds
   the transparent entry and measures the distortion.

Animations (:mod:`kquant.io.animation`) and shared palettes (:mod:`kquant.run.shared`)
fill one :class:`~kquant.core.histogram.Histogram` from many frames or images, fit it
once, and remap each of them. :func:`quantize_to_target` searches k over one
prepared image.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kquant.core.codebook import start_import
from kquant.core.fit import fit as fit_histogram
from kquant.core.fit import fit_palette, given, given_palette
from kquant.core.histogram import Prepared, prepare
from kquant.core.remap import Quantized, continued, match_colors, remap, row_counts
from kquant.core.spaces import features
from kquant.defaults import DEFAULT_COLORS, DEFAULT_DITHER, DEFAULT_DITHER_STRENGTH
from kquant.errors import UsageError
from kquant.settings import FitOptions, check_colors, check_dither, check_run_budget
from kquant.stages import Stage

if TYPE_CHECKING:
    from PIL import Image

    from kquant.core.metrics import Distortion

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


def as_pixels(image: np.ndarray | Image.Image) -> np.ndarray:
    """Bring an image to the layout :func:`quantize` works on.

    Parameters
    ----------
    image : ndarray or PIL.Image.Image
        (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA uint8 array, or a Pillow image
        of any mode (converted as :func:`kquant.io.images.load_image` does).

    Returns
    -------
    pixels : (H, W, 3) or (H, W, 4) uint8 ndarray
    """
    if not isinstance(image, np.ndarray):
        from kquant.io.images import pixels_from_pil

        return pixels_from_pil(image)[0]
    if image.dtype != np.uint8:
        raise UsageError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise UsageError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got {image.shape}")
    return image


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
    run_budget: float = 0.0,
    **fit: Any,
) -> Quantized:
    """Reduce an image to at most ``k`` colors: :func:`kquant.core.fit.fit` (or
    :func:`kquant.core.fit.given`) then :func:`kquant.core.remap.remap`, timed.

    Parameters
    ----------
    image : ndarray, PIL.Image.Image or Prepared
        See :func:`as_pixels` (or :func:`prepare`, to count colors once for many
        calls). Pixels with alpha 0 share one transparent entry beside the ``k``
        colors, within 256 entries when ``k <= 256`` (:meth:`Histogram.limit
        <kquant.core.histogram.Histogram.limit>`: ``k=256`` leaves 255 colors).
    k : int
        Maximum number of visible colors, 1 <= k <= 65536.
    options : FitOptions or None
        How to fit the palette; default ``FitOptions()``; ``**fit`` sets its fields.
    palette : (P, 3) or (P, C) uint8 array or None
        Map onto these colors instead of fitting (``k`` is then not used); RGB rows
        are opaque. Unused colors are dropped unless ``whole_palette``.
    dither, dither_strength, run_budget : str, float in [0, 1], float >= 0
        Error diffusion onto the palette (:mod:`kquant.core.dither`: "none",
        "floyd-steinberg", "adaptive") and the fraction of the error diffused (the
        distortion is then measured pixel by pixel); undithered, runs of indices
        continued within ``run_budget`` (:func:`kquant.core.runs.continue_runs`).
    progress : callable or None
        Called with :attr:`Stage.FIT <kquant.stages.Stage>` and then ``Stage.MAP``.
    init : (k, D) float64 ndarray or None
        Start k-means from these centers (:func:`kquant.core.fit.fit`).
    keep : (N, 3) uint8 array or None
        Colors that must be in the palette exactly (opaque), even unused: they count
        toward ``k`` (:func:`fit_palette`); with ``palette``, added to it.
    whole_palette, hold, transparent_entry
        With ``palette``: write every row in its order (images share index for index),
        hold some pixels' indices (:func:`kquant.core.remap.remap`), reserve a
        transparent entry (row 0, or last with ``whole_palette``) even if unused.

    Returns
    -------
    Quantized (:class:`kquant.errors.UsageError`, a ValueError, for a bad argument)

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 4, 3), np.uint8); img[:, 2:] = (200, 30, 30)
    >>> q = quantize(img, k=8)
    >>> q.colors_out, q.distortion.mse
    (2, 0.0)
    """
    _check_quantize(k, dither, dither_strength, palette, whole_palette, hold, run_budget)
    options = dataclasses.replace(options or FitOptions(), **fit)
    report_stage = progress or (lambda stage: None)
    report_stage(Stage.FIT)
    t0 = time.perf_counter()
    if options.method != "random":
        start_import()
    prep = image if isinstance(image, Prepared) else prepare(image)
    histogram = prep.histogram(transparent_entry=transparent_entry, keep=keep)
    chosen = (given(palette, histogram, options.space) if palette is not None  # no fit
              else fit_histogram(histogram, k, options, init=init))  # fmt: skip
    t1 = time.perf_counter()
    report_stage(Stage.MAP)
    result = remap(prep, chosen, dither=dither, strength=dither_strength, hold=hold,
                   whole_palette=whole_palette, keep_points=image is prep,
                   run_budget=run_budget)  # fmt: skip
    t2 = time.perf_counter()
    return dataclasses.replace(result, seconds={"fit": t1 - t0, "map": t2 - t1})


def _check_quantize(
    k: int,
    dither: str,
    dither_strength: float,
    palette: np.ndarray | None,
    whole_palette: bool,
    hold: tuple[np.ndarray, np.ndarray] | None,
    run_budget: float = 0.0,
) -> None:
    """Refuse :func:`quantize` arguments that do not go together."""
    check_colors(k)
    check_dither(dither, dither_strength)
    check_run_budget(run_budget, 0.0 if dither == "none" else dither_strength)
    if whole_palette and palette is None:
        raise UsageError("whole_palette needs a palette", params=("whole_palette",))
    if hold is not None and not whole_palette:
        raise UsageError("hold needs whole_palette", params=("hold",))


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
    run_budget: float = 0.0,
    **fit: Any,
) -> tuple[int, Quantized, bool]:
    """The smallest k (up to ``max_k``) whose result reaches a quality target, to
    within :data:`TARGET_TOLERANCE_DB`.

    The palette is fitted once at ``max_k``; if that misses the target, it is
    returned with ``False``. Otherwise k is searched assuming quality grows with k:
    each k tried starts from the ``max_k`` centers merged down to k by Ward's rule
    (:class:`kquant.core.merging.WardTree`; k-means only, up to :data:`MAX_MERGED_K`
    colors) and is refined by a short warm-started k-means, and the next k is
    predicted from the qualities measured so far (a secant on log k; PSNR grows by
    about 2 dB per doubling of k), falling back to bisection when two predictions in
    a row do not halve the bracket. The search stops at the first k found that meets
    the target by less than :data:`TARGET_TOLERANCE_DB`. About 2-4 short fits instead
    of log2(max_k) full ones.

    With ``run_budget``, each k tried is mapped without runs (its error exact, from
    the histogram) and what the runs would add is measured on a sample of rows
    (:data:`RUNS_SAMPLE_PIXELS`); only the k found is mapped with its runs, and if that
    misses after all, the search goes on above it. The verdict on the result returned
    is always its exact quality, as it will be written.

    Parameters
    ----------
    image, options, dither, dither_strength, keep, run_budget, **fit
        As for :func:`quantize`. With kept colors every k tried is fitted from
        scratch (merged centers would move them). Where the runs of ``run_budget``
        keep even ``max_k`` from the target, the search is made without them.
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
    draw: dict[str, Any] = {"dither": dither, "dither_strength": dither_strength, "keep": keep,
                            "run_budget": run_budget}  # fmt: skip
    return _to_target(prep, max_k, target_psnr, max_mse, options, draw)


def _to_target(
    prep: Prepared,
    max_k: int,
    target_psnr: float | None,
    max_mse: float | None,
    options: FitOptions,
    draw: dict[str, Any],
) -> tuple[int, Quantized, bool]:
    """:func:`quantize_to_target`'s search, each k drawn with ``draw``: each k tried is
    drawn without runs and its quality with them estimated (:class:`_Estimates`); the
    k found is then drawn with them and measured, and the search goes on above it if
    it misses."""
    goal = target_psnr if target_psnr is not None else _psnr_of(max_mse)  # type: ignore[arg-type]
    budget = draw.get("run_budget", 0.0) if prep.visible is None else 0.0
    plain = draw | {"run_budget": 0.0}

    def meets(q: Quantized) -> bool:
        return _meets(q.distortion, target_psnr, max_mse)

    first = quantize(prep, max_k, options=options, **plain)
    keep = draw.get("keep")
    merge = prep.hist.n_colors > max_k and (keep is None or not len(keep))
    tree = _merge_tree(first, options) if merge else None  # from the rows' use without runs

    def draw_at(k: int) -> Quantized:  # the same palette each time: the same start, seeded
        init = None if tree is None or k == max_k else tree.centers(k)
        return quantize(prep, k, options=options, init=init, **plain)

    est = _Estimates(prep, budget)
    est.add(max_k, first, goal)
    if est.quality[max_k] < goal and budget > 0:  # the runs keep even max_k out of reach
        est = _Estimates(prep, 0.0)
        est.add(max_k, first, goal)
    if est.quality[max_k] < goal:
        return max_k, first, False
    del first  # est.kept holds it while it is the best guess
    low, high = 0, max_k
    while True:

        def at(k: int) -> bool:
            if k not in est.quality:
                est.add(k, draw_at(k), goal)
            return est.quality[k] >= goal

        k = _search(low, high, at, lambda lo, hi: _predict(lo, hi, est.quality, goal),
                    lambda hi: est.quality[hi] - goal <= TARGET_TOLERANCE_DB)  # fmt: skip
        result = est.drawn(k, est.kept.pop(k) if k in est.kept else draw_at(k))
        if meets(result):
            return k, result, True
        if k == max_k:  # with its runs even max_k misses: without them
            return _to_target(prep, max_k, target_psnr, max_mse, options, plain)
        # the runs cost more than estimated (or a rounding put a miss at the goal):
        # search above k, in the bracket it leaves
        est.quality[k] = min(est.quality[k], float(np.nextafter(goal, -np.inf)))
        high = min(h for h, q in est.quality.items() if q >= goal and h > k)
        low = max(h for h, q in est.quality.items() if q < goal and h < high)


#: Rows sampled to estimate what the runs add to a k's error during a quality
#: target's search: about this many pixels (every n-th row; runs look only to the
#: left, so each sampled row's result is exact).
RUNS_SAMPLE_PIXELS = 250_000


class _Estimates:
    """Qualities (dB) of the k tried in a quality target's search: measured for what
    was drawn with its runs (:meth:`drawn`), else the exact quality without them
    with the runs' added squared error measured on a sample of rows (:meth:`add`).
    ``kept`` holds the last k estimated to meet the target, undrawn."""

    def __init__(self, prep: Prepared, budget: float) -> None:
        self.prep, self.budget = prep, budget
        height, width = prep.pixels.shape[:2]
        self.every = max(1, height * width // RUNS_SAMPLE_PIXELS)
        self.quality: dict[int, float] = {}
        self.kept: dict[int, Quantized] = {}

    def add(self, k: int, q: Quantized, goal: float) -> None:
        quality = _quality(q)
        if self.budget > 0:
            from kquant.core.runs import sampled_increase

            added = sampled_increase(self.prep.pixels, q.palette, q.indices, self.budget,
                                     every=self.every)  # fmt: skip
            quality = _psnr_of(q.distortion.mse + added)
        self.quality[k] = quality
        if quality >= goal:
            self.kept = {k: q}

    def drawn(self, k: int, q: Quantized) -> Quantized:
        """``q`` with its runs continued (its indices changed in place), measured."""
        if self.budget > 0:
            q = continued(self.prep, q, self.budget)
        self.quality[k] = _quality(q)
        return q


def _search(
    low: int,
    high: int,
    meets: Callable[[int], bool],
    predict: Callable[[int, int], int],
    close: Callable[[int], bool],
) -> int:
    """The smallest k in ``low`` + 1 .. ``high`` for which ``meets(k)``, knowing
    ``high`` meets and ``low`` misses (0: none tried) and assuming quality grows with
    k, or the first k found that meets and is ``close`` enough to the target: each k
    tried is ``predict(low, high)``, stepping down further each time until a miss is
    found, and bisecting after two predictions in a row that did not halve the
    bracket."""
    guess, stalls, step = predict(low, high), 0, 1
    while high - low > 1 and not close(high):
        k = min(max(guess, low + 1), high - 1)
        width = high - low
        if meets(k):
            high = k
        else:
            low = k
        guess = predict(low, high)
        if low == 0:  # nothing missed yet: step down, further each time, to find a miss
            guess, step = min(guess, high - step), 2 * step
        else:  # twice in a row without halving the bracket: bisect
            stalls = stalls + 1 if 2 * (high - low) > width else 0
            guess = (low + high) // 2 if stalls >= 2 else guess
    return high


#: Quality targets start from merged palettes only up to this many colors (merging is
#: O(K^2) in memory and time); above it every k tried is fitted from scratch.
MAX_MERGED_K = 1024

#: PSNR gained per doubling of k, for the first prediction (about 2 dB measured on
#: photos: 3-D quantization error falls as k^(-2/3), 10 log10(2^(2/3)) = 2.0 dB).
PSNR_PER_DOUBLING = 2.0

#: A quality target's search stops at a k that meets the target within this many dB
#: of it, even if a smaller k might meet it too: about 3.5% of k at 2 dB a doubling,
#: for 1-3 fewer fits and mappings (bench/rate.py, docs/BENCHMARKS.md).
TARGET_TOLERANCE_DB = 0.1


def _meets(d: Distortion, target_psnr: float | None, max_mse: float | None) -> bool:
    """Whether a distortion reaches the PSNR target (lossless always does), or the MSE
    one when there is no PSNR target."""
    if target_psnr is not None:
        return d.psnr is None or d.psnr >= target_psnr
    return d.mse <= max_mse  # type: ignore[operator]


def _psnr_of(mse: float) -> float:
    return float("inf") if mse <= 0 else 10 * np.log10(255.0**2 / mse)


def _quality(q: Quantized) -> float:
    return float("inf") if q.distortion.psnr is None else q.distortion.psnr


def _predict(low: int, high: int, quality: dict[int, float], goal: float) -> int:
    """The k expected to reach ``goal`` dB, from the qualities (dB) at ``low`` (missed;
    0: none) and ``high`` (met): a secant through both on log2 k, or the mean slope
    from ``high`` alone; rounded up, since the answer is the smallest k that meets."""
    p_high = quality[high]
    if not np.isfinite(goal) or not np.isfinite(p_high):
        return (low + high) // 2
    if low == 0:
        log_k = np.log2(high) + (goal - p_high) / PSNR_PER_DOUBLING
    else:
        p_low = quality[low]
        if p_high <= p_low:
            return (low + high) // 2
        log_k = np.log2(low) + (goal - p_low) * (np.log2(high) - np.log2(low)) / (p_high - p_low)
    return int(np.ceil(2.0**log_k - 1e-9))


def _merge_tree(q: Quantized, options: FitOptions):
    """A :class:`kquant.core.merging.WardTree` of ``q``'s visible palette rows in the fit
    space, weighted by their pixels (of the dithered result when it is: near the
    clusters' sizes, and only a warm start); None where merging does not apply
    (methods other than k-means, more than :data:`MAX_MERGED_K` rows)."""
    from kquant.core.merging import WardTree

    rows = np.arange(q.palette.shape[0])
    if q.transparent_index is not None:
        rows = rows[rows != q.transparent_index]
    if options.method != "kmeans" or not 1 < rows.size <= MAX_MERGED_K:
        return None
    weights = row_counts(q.indices, q.palette.shape[0])[rows]
    palette = q.palette[rows]
    points = features(palette, options.space)
    centers = palette.astype(np.float64) if points is None else points
    return WardTree(centers[weights > 0], weights[weights > 0])
