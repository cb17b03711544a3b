"""Choosing k: quantize at several k and measure each, the way the k-means
tutorials do (inertia elbow, silhouette, Calinski-Harabasz), plus what a user of
a quantizer cares about (PSNR, bytes, time).

- ``inertia``: the sum over every visible pixel of the squared RGB distance to its
  nearest palette color, undithered (3 x pixels x that mapping's MSE); the
  k-means objective itself with ``space="rgb"`` (the default fits in the weighted
  space, whose distances differ).
- ``silhouette`` and ``calinski_harabasz``: scikit-learn's scores of the pixel
  labels, on one seeded sample of visible pixels shared by every k (silhouette is
  quadratic in the sample size, hence the sample).

These three describe the clustering, so they come from the undithered mapping. MSE,
PSNR, colors and bytes describe the image ``compress`` would write at that k: with
``dither`` (the default, as in ``compress``), the same palette dithered.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from kquant.core.codebook import finish_import
from kquant.core.quantizer import Prepared, prepare, quantize
from kquant.defaults import (
    DEFAULT_DITHER,
    DEFAULT_DITHER_STRENGTH,
    DEFAULT_METRIC_SAMPLE,
    MAX_COLORS,
    MIN_METRIC_SAMPLE,
)
from kquant.errors import UsageError
from kquant.io.images import save_quantized
from kquant.settings import FitOptions, Method, check_dither, check_methods, check_target_psnr

__all__ = ["SweepRow", "check_sweep", "parse_ks", "suggest", "sweep"]


@dataclass(frozen=True)
class SweepRow:
    """One method's measurements at one k. The names are those of ``compress``'s
    report where they mean the same thing (``colors_out``, ``bytes_out``, ``seconds``
    as an object of stages)."""

    method: str
    space: str
    dither: str
    dither_strength: float
    k: int
    seed: int
    colors_in: int
    colors_out: int
    inertia: float
    mse: float
    psnr: float | None
    max_error: int
    silhouette: float | None
    calinski_harabasz: float | None
    metric_sample: int
    bytes_out: int
    seconds: dict[str, float]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_ks(text: str, max_k: int = MAX_COLORS) -> list[int]:
    """``"2,4,8"`` or ``"2..256"`` (doubling from the first to the last) to a sorted
    list of distinct k.

    >>> parse_ks("2..256"), parse_ks("8,2,4,4")
    ([2, 4, 8, 16, 32, 64, 128, 256], [2, 4, 8])

    Raises
    ------
    UsageError
    """
    text = text.replace(" ", "")
    match = re.fullmatch(r"(\d+)\.\.(\d+)", text)
    try:
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            if low < 1 or high < low:
                raise ValueError
            ks, k = [], low
            while k < high:
                ks.append(k)
                k *= 2
            ks.append(high)
        else:
            ks = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise UsageError(
            f"{text!r} is not a list of k (2,4,8) or a range (2..256)", params=("ks",)
        ) from None
    if not ks or any(not 1 <= k <= max_k for k in ks):
        raise UsageError(f"every k must be between 1 and {max_k}: {text!r}", params=("ks",))
    return sorted(set(ks))


def check_sweep(*, metric_sample: int, target_psnr: float | None = None) -> None:
    """Refuse a metric sample below :data:`kquant.defaults.MIN_METRIC_SAMPLE` pixels,
    or a PSNR target that is not a finite number of dB above 0."""
    if metric_sample < MIN_METRIC_SAMPLE:
        raise UsageError(
            f"the metric sample must be at least {MIN_METRIC_SAMPLE} pixels, got {metric_sample}",
            params=("metric_sample",),
        )
    check_target_psnr(target_psnr)


def sweep(
    pixels: np.ndarray,
    ks: list[int],
    *,
    options: FitOptions | None = None,
    dither: str = DEFAULT_DITHER,
    dither_strength: float = DEFAULT_DITHER_STRENGTH,
    metric_sample: int = DEFAULT_METRIC_SAMPLE,
    methods: Sequence[str] | None = None,
    progress=None,
) -> list[SweepRow]:
    """Quantize ``pixels`` at each k, with each method, and measure the result.

    Parameters
    ----------
    pixels : (H, W, 3|4) uint8 ndarray
    ks : list of int
    options : FitOptions or None
        Shared by every k and method; its seed also draws the metric sample.
    dither, dither_strength
        How the measured image is drawn (:func:`kquant.core.quantizer.quantize`); the
        clustering measures use the undithered labels whatever these are.
    metric_sample : int
        Visible pixels the silhouette and Calinski-Harabasz scores are computed on
        (the same pixels for every k and method).
    methods : sequence of str or None
        Methods from :data:`kquant.defaults.METHODS` (default: ``options.method``),
        each run over every k with the same seed and sample, so their rows compare.
    progress : callable or None
        Called with (method, k) before each fit.

    Returns
    -------
    list of SweepRow: every k of the first method, then of the next
    """
    check_sweep(metric_sample=metric_sample)
    check_dither(dither, dither_strength)
    options = options or FitOptions()
    methods = list(methods) if methods else [options.method]
    check_methods(methods)
    prepared = prepare(pixels)  # colors counted once for every k and method
    if any(method != "random" for method in methods):
        finish_import()  # so the first k's seconds do not include it
    sample = _metric_sample(prepared, metric_sample, options.seed)
    results = []
    for method, k in ((method, k) for method in methods for k in ks):
        if progress:
            progress(method, k)
        run = dataclasses.replace(options, method=cast("Method", method))
        results.append(_sweep_row(prepared, k, run, dither, dither_strength, sample))
    return results


@dataclasses.dataclass(frozen=True)
class _MetricSample:
    """The pixels the clustering scores are computed on: ``rows`` (N,) int indices
    into the flattened image, ``points`` (N, 3) float64 their RGB, among ``visible``
    visible pixels."""

    rows: np.ndarray
    points: np.ndarray
    visible: int


def _metric_sample(prepared: Prepared, size: int, seed: int) -> _MetricSample:
    """``size`` visible pixels (or all there are) drawn without replacement, seeded."""
    flat = prepared.pixels.reshape(-1, prepared.pixels.shape[2])
    visible = np.arange(len(flat)) if prepared.visible is None else np.flatnonzero(prepared.visible)
    rng = np.random.default_rng(seed)
    rows = rng.choice(visible, size=min(size, visible.size), replace=False)
    return _MetricSample(rows, flat[rows, :3].astype(np.float64), visible.size)


def _sweep_row(
    prepared: Prepared,
    k: int,
    run: FitOptions,
    dither: str,
    dither_strength: float,
    sample: _MetricSample,
) -> SweepRow:
    """Fit one method at one k, draw the image compress would write and measure both."""
    from sklearn.metrics import calinski_harabasz_score, silhouette_score

    start = time.perf_counter()
    fitted = quantize(prepared, k, options=run, dither="none")
    q = fitted
    if dither != "none" and dither_strength > 0:
        opaque = np.arange(fitted.palette.shape[0]) != fitted.transparent_index
        q = quantize(prepared, options=run, palette=fitted.palette[opaque],
                     dither=dither, dither_strength=dither_strength)  # fmt: skip
    total = time.perf_counter() - start
    seconds = {"fit": fitted.seconds["fit"], "map": total - fitted.seconds["fit"],
               "total": total}  # fmt: skip
    points = sample.points
    labels = fitted.indices.reshape(-1)[sample.rows]
    scorable = 2 <= np.unique(labels).size < len(points)
    size = save_quantized(io.BytesIO(), q.palette, q.indices, fmt="PNG",
                          transparent_index=q.transparent_index)  # fmt: skip
    return SweepRow(
        method=run.method,
        space=run.space,
        dither=dither if q is not fitted else "none",
        dither_strength=dither_strength,
        k=k,
        seed=run.seed,
        colors_in=q.colors_in,
        colors_out=q.colors_out,
        inertia=fitted.distortion.mse * 3 * sample.visible,
        mse=q.distortion.mse,
        psnr=q.distortion.psnr,
        max_error=q.distortion.max_error,
        silhouette=float(silhouette_score(points, labels)) if scorable else None,
        calinski_harabasz=float(calinski_harabasz_score(points, labels)) if scorable else None,
        metric_sample=len(points),
        bytes_out=size,
        seconds=seconds,
    )


def suggest(rows: list[SweepRow], target_psnr: float | None = None) -> dict[str, int | None]:
    """Suggested k by three rules, from the rows of one method.

    - ``elbow``: the k whose point on the inertia curve (log2 k against inertia,
      both scaled to 0-1) lies farthest below the straight line from the first k to
      the last;
    - ``silhouette``: the k with the highest silhouette score;
    - ``target_psnr``: the smallest k reaching ``target_psnr`` (None if none does,
      or no target).
    """
    check_target_psnr(target_psnr)
    if len({r.method for r in rows}) > 1:
        raise ValueError("suggest() takes the rows of one method; group them first")
    out: dict[str, int | None] = {"elbow": None, "silhouette": None, "target_psnr": None}
    if len(rows) >= 3:
        x = np.array([math.log2(r.k) for r in rows])
        y = np.array([r.inertia for r in rows])
        if np.ptp(y) > 0 and np.ptp(x) > 0:
            x = (x - x.min()) / np.ptp(x)
            y = (y - y.min()) / np.ptp(y)
            line = y[0] + (y[-1] - y[0]) * (x - x[0]) / (x[-1] - x[0])
            out["elbow"] = rows[int(np.argmax(line - y))].k
    scored = [r for r in rows if r.silhouette is not None]
    if scored:
        out["silhouette"] = max(scored, key=lambda r: float(r.silhouette or 0)).k
    if target_psnr is not None:
        reached = [r.k for r in rows if r.psnr is None or r.psnr >= target_psnr]
        out["target_psnr"] = min(reached) if reached else None
    return out
