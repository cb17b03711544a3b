"""kquant.core.spaces: the weighted and Lab spaces colors are fitted and matched in."""

from __future__ import annotations

import numpy as np
from helpers import BLOCK_COLORS, blocks
from PIL import Image

from kquant import FitOptions, quantize
from kquant.core.metrics import mean_delta_e


def test_lab_palette_is_valid_srgb_and_recovers_blocks():
    q = quantize(blocks(), 4, space="lab")
    assert q.palette.dtype == np.uint8 and q.palette.shape == (4, 3)
    found = q.palette[np.lexsort(q.palette.T[::-1])]
    expected = BLOCK_COLORS[np.lexsort(BLOCK_COLORS.T[::-1])]
    assert np.abs(found.astype(int) - expected).max() <= 2
    assert q.distortion.mse < 15  # the noise's own variance is 14


def test_lab_lowers_delta_e_on_a_photo():
    img = np.asarray(Image.open("sample_images/china.jpg").convert("RGB"))[::2, ::2]
    rgb, lab = quantize(img, 16), quantize(img, 16, space="lab")
    assert lab.palette.dtype == np.uint8 and lab.colors_out <= 16
    de_rgb = mean_delta_e(img, rgb.to_array()).value
    de_lab = mean_delta_e(img, lab.to_array()).value
    assert de_lab < 0.95 * de_rgb
    assert lab.distortion.mse > rgb.distortion.mse  # RGB k-means minimises MSE


def test_the_weighted_space_round_trips_and_recovers_blocks():
    """--space weighted (issue 22): libimagequant's gamma and channel weights; colors
    come back from their points within rounding, and flat blocks are found."""
    from kquant.core.spaces import features, from_features

    rng = np.random.default_rng(5)
    colors = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    back = from_features(features(colors, "weighted"), "weighted", 3)
    np.testing.assert_allclose(back, colors, atol=1e-6)
    rgba = np.hstack([colors, np.full((500, 1), 128, np.uint8)])
    back = from_features(features(rgba, "weighted"), "weighted", 4)
    np.testing.assert_allclose(back, rgba, atol=1e-6)
    q = quantize(blocks(), 4, options=FitOptions(space="weighted"))
    found = np.sort(q.palette.astype(int), axis=0)
    assert np.abs(found - np.sort(BLOCK_COLORS.astype(int), axis=0)).max() <= 3
