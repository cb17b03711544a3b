"""Library: color keys, histogram, exact nearest mapping, metrics, codebooks."""

from __future__ import annotations

import numpy as np
import pytest

from kquant.core.codebook import fit_codebook, round_palette
from kquant.core.colors import binned, color_histogram, lookup, pack, unpack
from kquant.core.mapping import nearest_index
from kquant.core.metrics import distortion_from_histogram, image_distortion, psnr
from kquant.settings import FitOptions


@pytest.mark.parametrize("channels", [3, 4])
def test_pack_unpack_round_trip(channels):
    rng = np.random.default_rng(1)
    colors = rng.integers(0, 256, size=(500, channels), dtype=np.uint8)
    keys = pack(colors)
    assert keys.dtype == np.uint32
    np.testing.assert_array_equal(unpack(keys, channels), colors)
    # distinct colors <-> distinct keys
    assert np.unique(keys).size == np.unique(colors, axis=0).shape[0]


def test_histogram_counts_and_lookup():
    colors = np.array([[1, 2, 3], [9, 9, 9], [1, 2, 3], [0, 0, 0], [1, 2, 3]], np.uint8)
    hist = color_histogram(colors)
    assert hist.n_colors == 3
    assert hist.n_pixels == 5
    row = np.flatnonzero((hist.colors == [1, 2, 3]).all(axis=1))[0]
    assert hist.counts[row] == 3
    rows = lookup(hist, colors, np.arange(hist.n_colors))
    np.testing.assert_array_equal(hist.colors[rows], colors)


@pytest.mark.parametrize("block", [None, 4096])
@pytest.mark.parametrize("channels", [3, 4])
def test_histogram_and_lookup_on_large_inputs_match_unique(channels, block, monkeypatch):
    # above the rank-bitmap threshold for RGB; RGBA looks up by search. Small blocks:
    # many blocks counted in threads and merged several times, lookups across blocks.
    if block is not None:  # and the rank bitmap instead of the table
        monkeypatch.setattr("kquant.core.colors._HIST_BLOCK", block)
        monkeypatch.setattr("kquant.core.colors._LOOKUP_BLOCK", block // 3)
        monkeypatch.setattr("kquant.core.colors._BITMAP_MIN_PIXELS", block)
    rng = np.random.default_rng(8)
    colors = rng.integers(0, 40, size=(300_000, channels), dtype=np.uint8) * 6
    hist = color_histogram(colors)
    ref, ref_counts = np.unique(colors, axis=0, return_counts=True)
    order = np.lexsort(hist.colors.T[::-1])
    np.testing.assert_array_equal(hist.colors[order], ref)
    np.testing.assert_array_equal(hist.counts[order], ref_counts)
    rows = lookup(hist, colors, np.arange(hist.n_colors, dtype=np.int32))
    np.testing.assert_array_equal(hist.colors[rows], colors)


def test_binned_histogram_keeps_exact_means_and_weights():
    colors = np.array([[0, 0, 0], [3, 1, 2], [200, 10, 10], [0, 0, 0]], np.uint8)
    hist = color_histogram(colors)
    coarse = binned(hist, 5)  # bins of 8 levels: black and (3, 1, 2) share one
    assert coarse.n_points == 2
    order = np.argsort(coarse.weights)
    np.testing.assert_allclose(coarse.weights[order], [1, 3])
    np.testing.assert_allclose(coarse.means[order], [[200, 10, 10], [1, 1 / 3, 2 / 3]], rtol=1e-6)
    full = binned(hist, 8)
    np.testing.assert_array_equal(full.means, hist.colors.astype(np.float32))


def test_nearest_index_is_exact_against_brute_force():
    rng = np.random.default_rng(2)
    colors = rng.integers(0, 256, size=(20_000, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, size=(200, 3), dtype=np.uint8)
    got = nearest_index(colors, palette)
    d = ((colors[:, None, :].astype(np.int64) - palette[None, :, :].astype(np.int64)) ** 2).sum(-1)
    best = d.min(axis=1)
    # exact: the chosen entry is at the true minimum distance (ties may pick any minimum,
    # and we pick the lowest index)
    np.testing.assert_array_equal(d[np.arange(len(colors)), got], best)


def test_nearest_index_ties_go_to_the_lowest_color_whatever_the_order():
    palette = np.array([[20, 0, 0], [0, 0, 0], [10, 10, 0]], np.uint8)
    color = np.array([[10, 0, 0]], np.uint8)  # 100 from (20,0,0) and (0,0,0) and (10,10,0)
    for perm in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        got = nearest_index(color, palette[perm])[0]
        assert palette[perm][got].tolist() == [0, 0, 0]


def test_nearest_index_rgba_and_a_tie():
    palette = np.array([[10, 0, 0, 255], [0, 10, 0, 255], [5, 5, 0, 255]], np.uint8)
    colors = np.array([[5, 5, 0, 255], [0, 0, 0, 255]], np.uint8)
    assert nearest_index(colors, palette).tolist() == [2, 2]
    assert nearest_index(colors[1:, :3], palette[:2, :3]).tolist() == [1]  # (0, 10, 0) < (10, 0, 0)


def test_nearest_index_many_rows_in_blocks():
    # more rows than one block holds for k=256: exercises the blocking
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, size=(256, 3), dtype=np.uint8)
    colors = np.repeat(palette, 200, axis=0)  # 51,200 rows, each exactly a palette entry
    np.testing.assert_array_equal(nearest_index(colors, palette), np.repeat(np.arange(256), 200))


def test_distortion_from_histogram_matches_pixelwise():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    hist = color_histogram(img.reshape(-1, 3))
    mapped = (hist.colors // 16) * 16
    fast = distortion_from_histogram(hist.colors, hist.counts, mapped)
    out = mapped[lookup(hist, img.reshape(-1, 3), np.arange(hist.n_colors))].reshape(img.shape)
    slow = image_distortion(img, out)
    d = img.astype(float) - out.astype(float)
    assert fast.mse == pytest.approx(np.mean(d * d), rel=1e-12)
    assert slow.mse == pytest.approx(fast.mse, rel=1e-12)
    assert fast.max_error == slow.max_error == int(np.abs(d).max())
    assert fast.psnr == pytest.approx(10 * np.log10(255**2 / fast.mse))


def test_psnr_is_none_when_lossless():
    assert psnr(0.0) is None
    assert psnr(255.0**2) == pytest.approx(0.0)


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


def test_fit_options_reject_bad_values():
    with pytest.raises(ValueError, match="unknown method"):
        FitOptions(method="octree")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_init"):
        FitOptions(n_init=0)
    with pytest.raises(ValueError, match="unknown init"):
        FitOptions(init="kmeans||")
