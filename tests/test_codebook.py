"""kquant.core.codebook: fitting and rounding a palette."""

from __future__ import annotations

import numpy as np
import pytest

from kquant.core.codebook import fit_codebook, round_palette
from kquant.core.colors import color_histogram
from kquant.settings import FitOptions


def test_round_palette_rounds_clips_and_dedupes():
    centers = np.array([[10.4, 20.6, 300.0], [10.2, 21.4, 260.0], [-3.0, 0.49, 0.5]])
    got = round_palette(centers)
    assert got.dtype == np.uint8
    assert got.tolist() == [[10, 21, 255], [0, 0, 0]]


@pytest.mark.parametrize("method", ["kmeans", "minibatch", "random"])
def test_fit_codebook_shapes(method):
    rng = np.random.default_rng(5)
    colors = rng.integers(0, 256, size=(3000, 3), dtype=np.uint8)
    hist = color_histogram(colors)
    centers = fit_codebook(hist, 16, FitOptions(method=method, seed=0))
    assert centers.shape == (16, 3)
    assert np.all((centers >= 0) & (centers <= 255))


def test_kmeans_is_imported_without_the_rest_of_the_clustering_package():
    """kquant imports scikit-learn's k-means module alone (issue 26: 11 MB fewer
    resident in every run): a fresh process that fits has no ``sklearn.cluster``
    package loaded, fits with the real ``KMeans``, and a later ``import
    sklearn.cluster`` gets the whole package, with that same class."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, kquant\n"
        "img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)\n"
        "q = kquant.quantize(img, 8)\n"
        "from kquant.core.kmeans import kmeans_module\n"
        "print(q.colors_out, 'sklearn.cluster' in sys.modules,"
        " kmeans_module().KMeans.__module__)\n"
        "import sklearn.cluster\n"
        "print(sklearn.cluster.KMeans is kmeans_module().KMeans,"
        " sklearn.cluster.DBSCAN.__name__)\n"
    )
    code += (
        "import importlib\n"
        "m = importlib.import_module('sklearn.cluster._kmeans')\n"
        "print(m.KMeans is sklearn.cluster.KMeans)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    assert out == ["8", "False", "sklearn.cluster._kmeans", "True", "DBSCAN", "True"]


@pytest.mark.parametrize("k", [5, 64])
def test_a_fit_on_channel_levels_is_the_fit_on_the_points(k):
    """The weighted space's points are gathered from its channel levels a column at a
    time (issue 26: no (M, 3) float64 array, 16.5 MB on a 16 MP photo): the same bins,
    the same centers, bit for bit."""
    from kquant.core.colors import binned
    from kquant.core.spaces import channel_levels, features

    rng = np.random.default_rng(k)
    px = rng.integers(0, 256, (40_000, 3), dtype=np.uint8)
    px[:15_000] = px[:15_000] // 32 * 32  # a heavy, coarse part and a fine one
    hist = color_histogram(px)
    levels = channel_levels("weighted")
    points = features(hist.colors, "weighted")
    for bits in (5, 7, 8):
        a, b = binned(hist, bits, points), binned(hist, bits, levels=levels)
        np.testing.assert_array_equal(a.means, b.means)
        np.testing.assert_array_equal(a.weights, b.weights)
    options = FitOptions(space="weighted")
    centers = fit_codebook(hist, k, options, points)
    np.testing.assert_array_equal(centers, fit_codebook(hist, k, options, levels=levels))
    # a warm start (quality targets), and a histogram too small for any binning (the
    # full histogram's points gathered whole)
    warm = centers[::2] + 1.0
    np.testing.assert_array_equal(fit_codebook(hist, warm.shape[0], options, points, init=warm),
                                  fit_codebook(hist, warm.shape[0], options, init=warm,
                                               levels=levels))  # fmt: skip
    few = color_histogram(px[:2000])
    assert few.n_colors < 32 * k or k == 5
    np.testing.assert_array_equal(
        fit_codebook(few, k, options, features(few.colors, "weighted")),
        fit_codebook(few, k, options, levels=levels),
    )
    with pytest.raises(ValueError, match="levels"):
        binned(hist, 5, points, levels=levels)
