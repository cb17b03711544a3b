"""kquant.core.mapping: the exact nearest palette row."""

from __future__ import annotations

import numpy as np

from kquant.core.mapping import nearest_index


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


def test_points_made_block_by_block_give_the_same_rows_as_all_the_points():
    """The undithered mapping in the weighted space makes its points a block at a
    time (issue 26: 16.5 MB fewer on a 16 MP photo): the same rows, bit for bit."""
    from kquant.core.mapping import NearestPalette
    from kquant.core.spaces import features

    rng = np.random.default_rng(4)
    colors = rng.integers(0, 256, size=(30_000, 3), dtype=np.uint8)
    palette = features(rng.integers(0, 256, size=(256, 3), dtype=np.uint8), "weighted")
    nearest = NearestPalette(palette)
    whole = nearest(features(colors, "weighted"))
    blocks = nearest(colors, lambda block: features(block, "weighted"))
    np.testing.assert_array_equal(blocks, whole)
    assert len(set(whole.tolist())) > 100  # many rows used: the test can tell them apart
