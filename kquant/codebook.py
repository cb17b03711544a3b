"""Fitting a codebook (the palette) to a color histogram.

Every method works on a :class:`~kquant.colors.ColorHistogram`: distinct colors with
their pixel counts. Fitting k-means on distinct colors weighted by their counts gives
the same objective as fitting on every pixel, on far fewer points.

scikit-learn is imported here, inside the functions, so that ``kquant --help`` and
code that never fits do not pay for importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from kquant.colors import ColorHistogram
from kquant.defaults import DEFAULT_SAMPLE, INITS, METHODS

__all__ = ["FitOptions", "Method", "fit_codebook", "round_palette"]

Method = Literal["kmeans", "minibatch", "random"]


@dataclass(frozen=True)
class FitOptions:
    """How to fit a codebook.

    Attributes
    ----------
    method : {"kmeans", "minibatch", "random"}
        ``kmeans``: scikit-learn ``KMeans``. ``minibatch``: ``MiniBatchKMeans``.
        ``random``: k pixels drawn at random from the image (the classic baseline).
    init : {"k-means++", "random"}
        Initialisation of the k-means methods.
    n_init : int
        Number of k-means runs with different seeds; the best (lowest inertia) wins.
    max_iter : int
        Maximum Lloyd iterations per run (epochs over the data for ``minibatch``).
    tol : float
        scikit-learn's relative convergence tolerance.
    seed : int
        Seed of every random choice; the same seed gives the same palette.
    sample : int or None
        Pixels to fit on, drawn at random with ``seed``; None fits on every pixel.
        Ignored by ``random`` (which draws k pixels).
    """

    method: Method = "kmeans"
    init: str = "k-means++"
    n_init: int = 1
    max_iter: int = 300
    tol: float = 1e-4
    seed: int = 0
    sample: int | None = DEFAULT_SAMPLE

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose from {', '.join(INITS)}")
        if self.n_init < 1:
            raise ValueError(f"n_init must be at least 1, got {self.n_init}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be at least 1, got {self.max_iter}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol}")
        if self.sample is not None and self.sample < 1:
            raise ValueError(
                f"sample must be a positive number of pixels or None, got {self.sample}"
            )


def fit_codebook(hist: ColorHistogram, k: int, options: FitOptions) -> np.ndarray:
    """Fit ``k`` palette colors to a histogram.

    Parameters
    ----------
    hist : ColorHistogram
        Distinct colors (M, C) uint8 with counts; must have more than ``k`` colors
        (with ``k`` or fewer the distinct colors are themselves the best palette).
    k : int
        Number of palette colors, 1 <= k < M.
    options : FitOptions

    Returns
    -------
    centers : (k, C) float64 ndarray
        Palette colors on the 0-255 scale, not yet rounded.
    """
    if not 1 <= k < hist.n_colors:
        raise ValueError(f"k must be in [1, {hist.n_colors - 1}] for this histogram, got {k}")
    if options.method == "random":
        return _random_codebook(hist, k, options.seed)
    x = hist.colors.astype(np.float32)
    weight = hist.counts.astype(np.float32)
    params = {
        "n_clusters": k,
        "init": options.init,
        "n_init": options.n_init,
        "max_iter": options.max_iter,
        "tol": options.tol,
        "random_state": options.seed,
    }
    if options.method == "kmeans":
        from sklearn.cluster import KMeans

        model = KMeans(**params)
    else:
        from sklearn.cluster import MiniBatchKMeans

        model = MiniBatchKMeans(batch_size=4096, **params)
    model.fit(x, sample_weight=weight)
    return model.cluster_centers_.astype(np.float64)


def _random_codebook(hist: ColorHistogram, k: int, seed: int) -> np.ndarray:
    """k pixels drawn without replacement, each pixel equally likely (so a color
    is drawn in proportion to its count); duplicates are possible."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(hist.n_pixels, size=k, replace=False)
    rows = np.searchsorted(np.cumsum(hist.counts), picks, side="right")
    return hist.colors[rows].astype(np.float64)


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
