"""Fitting a codebook (the palette) to a color histogram.

Every method works on a :class:`~kquant.core.colors.ColorHistogram`: distinct colors with
their pixel counts. Fitting k-means on distinct colors weighted by their counts gives
the same objective as fitting on every pixel, on far fewer points.

scikit-learn is imported here, inside the functions, so that ``kquant --help`` and
code that never fits do not pay for importing it.
"""

from __future__ import annotations

import contextlib
import sys
import threading

import numpy as np

from kquant.core.colors import BinnedHistogram, ColorHistogram, binned, gathered
from kquant.core.kmeans import KMEANS_MODULE, kmeans_module
from kquant.core.memory import release_free_memory
from kquant.core.threads import one_thread
from kquant.defaults import AUTO_N_INIT
from kquant.settings import FitOptions

__all__ = ["auto_n_init", "fit_around", "fit_codebook", "round_palette", "start_import"]


def fit_codebook(
    hist: ColorHistogram,
    k: int,
    options: FitOptions,
    points: np.ndarray | None = None,
    *,
    init: np.ndarray | None = None,
    levels: np.ndarray | None = None,
) -> np.ndarray:
    """Fit ``k`` palette colors to a histogram.

    ``kmeans`` runs coarse to fine: scikit-learn's ``KMeans`` (with ``options``'
    init, n_init, max_iter and tol) on the histogram binned to a few bits per
    channel (:func:`kquant.core.colors.binned`: the coarsest of 5, 6 or 7 bits with at
    least :data:`MIN_POINTS_PER_CLUSTER` points per cluster), then ``KMeans``
    warm-started from those centers on each finer binning up to 7 bits, for a few
    iterations (:data:`REFINE_ITER`). Each level has the same objective as the
    pixels, up to bins split between clusters, so the coarse level finds the layout
    cheaply and the fine ones polish it. ``minibatch`` runs ``MiniBatchKMeans`` on the full
    histogram; ``random`` draws k pixels.

    Parameters
    ----------
    hist : ColorHistogram
        Distinct colors (M, C) uint8 with counts; must have more than ``k`` colors
        (with ``k`` or fewer the distinct colors are themselves the best palette).
    k : int
        Number of palette colors, 1 <= k < M.
    options : FitOptions
    points : (M, D) float64 ndarray or None
        The histogram's colors as points of the space to cluster in
        (:func:`kquant.core.spaces.features`); None clusters the colors themselves.
    init : (k, D) float64 ndarray or None
        ``kmeans`` only: start from these centers (points of the same space) and run
        only the warm-started refinement on 7-bit bins (the full histogram when there
        are too few bins), skipping the coarse fit and its restarts. Quality targets
        start each k tried from the merged centers of the largest fit
        (:mod:`kquant.core.merging`). Measured on a 4 MP photo at k = 55 and 146: without
        the full-histogram refinement, PSNR 0.001-0.011 dB lower, 40% less time.
    levels : (256, C) float64 ndarray or None
        With ``points`` None, cluster the points ``levels[color[c], c]`` of a space
        that maps each channel on its own (:func:`kquant.core.spaces.channel_levels`):
        the same fit as passing them, made a column at a time where the coarse to
        fine fit bins them (:func:`kquant.core.colors.binned`).

    Returns
    -------
    centers : (k, D) float64 ndarray
        Palette colors on the 0-255 scale (or points of the given space), not yet
        rounded.
    """
    if not 1 <= k < hist.n_colors:
        raise ValueError(f"k must be in [1, {hist.n_colors - 1}] for this histogram, got {k}")
    if levels is not None and (points is not None or options.method != "kmeans"):
        points = points if points is not None else gathered(hist.colors, levels)
        levels = None  # only the coarse to fine fit bins the levels
    scratch = points is None and levels is None  # RGB: the float copies are ours
    if options.method == "random":
        rows = _random_rows(hist, k, options.seed)
        return hist.colors[rows].astype(np.float64) if points is None else points[rows]
    # One thread: scikit-learn's threaded Lloyd adds per-thread partial sums in
    # whatever order the threads finish, so with more threads the centers (and, in
    # rare ties, the palette) could differ between runs, machines and --jobs values.
    with one_thread():
        return _fit(hist, k, options, points, init, scratch, levels)


def _fit(
    hist: ColorHistogram,
    k: int,
    options: FitOptions,
    points: np.ndarray | None,
    init: np.ndarray | None,
    scratch: bool = False,
    levels: np.ndarray | None = None,
) -> np.ndarray:
    if options.method == "minibatch":
        MiniBatchKMeans = kmeans_module().MiniBatchKMeans

        full = binned(hist, 8, points)
        model = MiniBatchKMeans(batch_size=4096, **_params(k, options))
        model.fit(full.means, sample_weight=full.weights)
        return model.cluster_centers_.astype(np.float64)
    return _coarse_to_fine(hist, k, options, points, init, scratch, levels)


#: The first fit runs on the coarsest binning with at least this many points per
#: cluster (5, 6 or 7 bits per channel; the full histogram if none has enough).
MIN_POINTS_PER_CLUSTER = 32

#: Lloyd iterations (at most) of the refinements that follow a fit from scratch, on
#: each finer binning up to 7 bits: {bits: iterations}. Measured on 12 photos at k = 64
#: and 256 (docs/BENCHMARKS.md, "Start-up paid once"): against the earlier 10-30
#: iterations on 7-bit bins and 3-5 on the full histogram, the fit takes 0.45-0.65x
#: the time for a median MSE 0.4-0.8% higher (within the spread of k-means++ seeds).
REFINE_ITER = {6: 15, 7: 5}
#: Lloyd iterations (at most) of a warm start's refinement (``init``: quality targets)
#: on binned colors: about REFINE_WARM_WORK / k, within REFINE_WARM_ITER (an iteration
#: costs O(points x k)). The refinement runs on the 6-bit bins where they hold at
#: least MIN_POINTS_PER_CLUSTER points a cluster, else on the 7-bit ones. Measured on a
#: 4 MP photo at k = 64-210 (issue 26): against 10-30 iterations on 7-bit bins, 0.03-0.06
#: dB lower PSNR for 0.10-0.22 s less a k tried (the search's verdicts stay exact;
#: its k is about 1-2% higher).
REFINE_WARM_ITER = (5, 15)
REFINE_WARM_WORK = 1280
#: A warm start with fewer 7-bit bins than k refines on the full histogram instead:
#: (k <= 64, above) iterations, up to WARM_FULL_MAX_K colors (above, none).
WARM_FULL_ITER = (5, 3)
WARM_FULL_MAX_K = 256


def auto_n_init(k: int) -> int:
    """k-means restarts for ``k`` colors: small palettes have more, and deeper, local
    minima, and a restart on a few thousand points is cheap
    (:data:`kquant.defaults.AUTO_N_INIT`: 8 for k <= 16, 4 to 32, 2 to 64, 1 above).

    >>> [auto_n_init(k) for k in (16, 17, 32, 64, 65, 256)]
    [8, 4, 4, 2, 1, 1]
    """
    return next((n for most, n in AUTO_N_INIT if k <= most), 1)


def _coarse_to_fine(
    hist: ColorHistogram,
    k: int,
    options: FitOptions,
    points: np.ndarray | None,
    init: np.ndarray | None = None,
    scratch: bool = False,
    levels: np.ndarray | None = None,
) -> np.ndarray:
    """Coarse to fine (see :func:`fit_codebook`); ``points`` and ``levels`` None for
    the colors themselves. With ``scratch``, the full histogram's points are this
    call's own copy, and its fits center them in place (``copy_x=False``: the same
    centers, without a second copy of the largest array)."""
    KMeans = kmeans_module().KMeans

    binnings = [binned(hist, bits, points, levels=levels) for bits in (5, 6, 7)]
    release_free_memory(hist.n_pixels)  # the binnings' temporaries, before the fits
    first = next(
        (i for i, data in enumerate(binnings) if data.n_points >= MIN_POINTS_PER_CLUSTER * k),
        None,
    )
    params = _params(k, options)
    if init is not None:  # warm start: one refinement, on 6- or 7-bit bins if enough
        low, high = REFINE_WARM_ITER
        warm = params | {"init": np.asarray(init, dtype=np.float64), "n_init": 1}
        if binnings[2].n_points >= k:
            data = binnings[1 if binnings[1].n_points >= MIN_POINTS_PER_CLUSTER * k else 2]
            warm["max_iter"] = min(high, max(low, REFINE_WARM_WORK // k))
        elif k <= WARM_FULL_MAX_K:
            data = _full(hist, points, levels)
            warm |= {"max_iter": WARM_FULL_ITER[k > 64], "copy_x": not scratch}
        else:
            return warm["init"]
        return KMeans(**warm).fit(data.means, sample_weight=data.weights).cluster_centers_
    if first is None:  # no binning is fine enough for k: the full histogram
        full = _full(hist, points, levels)
        model = KMeans(**params, copy_x=not scratch).fit(full.means, sample_weight=full.weights)
        return model.cluster_centers_.astype(np.float64)
    data = binnings[first]  # type: ignore[index]
    centers = KMeans(**params).fit(data.means, sample_weight=data.weights).cluster_centers_
    for bits in range(first + 6, 8):  # the finer binnings, up to 7 bits
        data, max_iter = binnings[bits - 5], REFINE_ITER[bits]
        warm = params | {"init": centers, "n_init": 1, "max_iter": max_iter}
        centers = KMeans(**warm).fit(data.means, sample_weight=data.weights).cluster_centers_
    return centers.astype(np.float64)


def _full(
    hist: ColorHistogram, points: np.ndarray | None, levels: np.ndarray | None = None
) -> BinnedHistogram:
    """The full histogram as points, once the binnings' leftovers are returned to
    the system (it is the largest array of a fit)."""
    release_free_memory(hist.n_pixels)
    return binned(hist, 8, points, levels=levels)


#: Rounds of :func:`fit_around`: reassign to fixed and free centers, refit the free.
FIXED_ROUNDS = 4


def fit_around(
    hist: ColorHistogram,
    centers: np.ndarray,
    fixed: np.ndarray,
    options: FitOptions,
    points: np.ndarray | None = None,
) -> np.ndarray:
    """Move free centers so that, with fixed ones that do not move, they fit ``hist``.

    Alternates, on the 7-bit bins of ``hist`` (the full histogram when it has fewer
    bins than centers): each bin goes to its nearest center among fixed and free; the
    bins held by free centers are refitted by scikit-learn's ``KMeans`` warm-started
    from the free centers. Both steps lower the total squared error (the k-means
    objective with some centers pinned), so colors near a fixed one stop pulling
    free centers toward it. Stops after :data:`FIXED_ROUNDS` rounds or when no bin
    changes center.

    Parameters
    ----------
    hist : ColorHistogram
        Every color, those of the fixed centers included.
    centers : (F, D) float64 ndarray
        Free centers to start from (fitted on the colors other than the fixed ones).
    fixed : (N, D) float64 ndarray
        Centers that stay where they are.
    options : FitOptions
    points : (M, D) float64 ndarray or None
        ``hist``'s colors as points of the space to cluster in; None for the colors.

    Returns
    -------
    (F, D) float64 ndarray
    """
    KMeans = kmeans_module().KMeans

    from kquant.core.mapping import nearest_index

    free_k = centers.shape[0]
    data = binned(hist, 7, points)
    if data.n_points < free_k + fixed.shape[0]:
        data = binned(hist, 8, points)
    n_fixed = fixed.shape[0]
    previous = None
    with one_thread():
        for _ in range(FIXED_ROUNDS):
            labels = nearest_index(data.means, np.vstack([fixed, centers]))
            if previous is not None and np.array_equal(labels, previous):
                break
            free = labels >= n_fixed
            if np.count_nonzero(free) < free_k:
                break
            warm = _params(free_k, options) | {"init": centers, "n_init": 1, "max_iter": 10}
            model = KMeans(**warm).fit(data.means[free], sample_weight=data.weights[free])
            centers, previous = model.cluster_centers_.astype(np.float64), labels
    return centers


def _params(k: int, options: FitOptions) -> dict:
    return {
        "n_clusters": k,
        "init": options.init,
        "n_init": options.n_init or auto_n_init(k),
        "max_iter": options.max_iter,
        "tol": options.tol,
        "random_state": options.seed,
    }


_import_thread: threading.Thread | None = None


def start_import() -> None:
    """Start importing scikit-learn in a background thread.

    The import takes about a second, mostly Python work; started before an image is
    decoded and counted (work that releases the GIL), it overlaps with them. The
    later :func:`kquant.core.kmeans.kmeans_module` waits for it (its lock). Calling
    this again does nothing.
    """
    global _import_thread
    if _import_thread is None and KMEANS_MODULE not in sys.modules:
        _import_thread = threading.Thread(target=_import_sklearn, daemon=True)
        _import_thread.start()


def finish_import() -> None:
    """Import scikit-learn's k-means now (joining :func:`start_import`'s thread), so
    that what is timed next measures a method, not the import: ``compare`` and
    ``sweep`` time each method or k after it."""
    start_import()
    if _import_thread is not None:
        _import_thread.join()
    kmeans_module()  # a failed background import shows here


def _import_sklearn() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(IMPORT_SWITCH_INTERVAL)
    try:
        with contextlib.suppress(Exception):  # a failure shows again at the real import
            kmeans_module()
    finally:
        sys.setswitchinterval(interval)


#: Python's thread switch interval (s) while scikit-learn is imported in the
#: background (the default is 5 ms): the import holds the GIL, and the decoding and
#: color counting beside it, which release it in every call to C, wait up to this
#: long to take it back each time.
IMPORT_SWITCH_INTERVAL = 0.0005


def _random_rows(hist: ColorHistogram, k: int, seed: int) -> np.ndarray:
    """Histogram rows of k pixels drawn without replacement, each pixel equally
    likely (so a color is drawn in proportion to its count); repeats are possible."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(hist.n_pixels, size=k, replace=False)
    return np.searchsorted(np.cumsum(hist.counts), picks, side="right")


def round_palette(centers: np.ndarray) -> np.ndarray:
    """Round palette colors to uint8 and drop duplicates that rounding creates.

    Parameters
    ----------
    centers : (K, C) float ndarray, values on the 0-255 scale

    Returns
    -------
    palette : (K', C) uint8 ndarray, K' <= K, rows unique, first occurrence order kept
    """
    palette = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
    _, first = np.unique(palette, axis=0, return_index=True)
    return palette[np.sort(first)]
