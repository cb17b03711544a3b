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
