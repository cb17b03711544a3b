"""kquant.core.colors: color keys, histograms of distinct colors, lookups."""

from __future__ import annotations

import numpy as np
import pytest

from kquant.core.colors import binned, color_histogram, lookup, pack, unpack


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


@pytest.mark.parametrize("channels", [3, 4])
def test_bins_are_numbered_as_sorting_the_cleared_keys_numbers_them(channels):
    """Binning (issue 26): RGB up to 7 bits numbers bins through a table of the
    occupied ones, without sorting; every channel count and depth gives the bins
    (and so the means and weights) that ``np.unique`` of the keys with the dropped
    bits cleared gives."""
    from kquant.core.colors import _bins_of

    rng = np.random.default_rng(channels)
    px = rng.integers(0, 256, (50_000, channels), dtype=np.uint8)
    px[:20_000] = px[0]  # one heavy color
    if channels == 4:
        px[:, 3] = rng.choice([0, 90, 255], px.shape[0])
    hist = color_histogram(px)
    for bits in range(1, 8):
        mask = int.from_bytes(bytes([(0xFF << (8 - bits)) & 0xFF] * channels), "little")
        expected = np.unique(hist.keys & np.uint32(mask), return_inverse=True)[1].reshape(-1)
        np.testing.assert_array_equal(_bins_of(hist.keys, channels, bits), expected)
        b = binned(hist, bits)
        assert b.weights.sum() == px.shape[0] and b.n_points == expected.max() + 1


@pytest.mark.parametrize("block", [None, 4096])
def test_rgb_counted_through_the_table_of_present_colors_matches_unique(block, monkeypatch):
    """From 2 MP on RGB is counted without sorting (issue 26: 0.30 against 0.80 s, and
    half the memory, on a 16 MP photo): a table of the colors present, a rank bitmap,
    ``np.add.at`` per block. Small blocks: rows and counts across many blocks, the
    keys read from the table in many pieces; the pixels then looked up through the
    rank bitmap (built from the keys, 1365 at a time: words split between blocks)."""
    monkeypatch.setattr("kquant.core.colors._DENSE_MIN_PIXELS", 1)
    monkeypatch.setattr("kquant.core.colors._BITMAP_MIN_PIXELS", 1)
    if block is not None:
        monkeypatch.setattr("kquant.core.colors._HIST_BLOCK", block)
        monkeypatch.setattr("kquant.core.colors._LOOKUP_BLOCK", block // 3)
        monkeypatch.setattr("kquant.core.colors._BLOCK", block)
    rng = np.random.default_rng(9)
    colors = rng.integers(0, 256, size=(60_000, 3), dtype=np.uint8)
    colors[::3] = colors[0]  # one color a third of the pixels
    colors[1::7, :2] = 255  # and runs of keys next to each other
    hist = color_histogram(colors)
    ref, ref_counts = np.unique(colors, axis=0, return_counts=True)
    order = np.lexsort(hist.colors.T[::-1])
    np.testing.assert_array_equal(hist.colors[order], ref)
    np.testing.assert_array_equal(hist.counts[order], ref_counts)
    assert hist.keys.dtype == np.uint32 and hist.counts.dtype == np.int64
    assert np.all(np.diff(hist.keys.astype(np.int64)) > 0)
    rows = lookup(hist, colors, np.arange(hist.n_colors, dtype=np.int32))
    np.testing.assert_array_equal(hist.colors[rows], colors)
