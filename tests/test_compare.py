"""kquant compare: methods side by side on one image."""

from __future__ import annotations

import json

import numpy as np
from helpers import SAMPLES, kquant
from PIL import Image

import kquant as kq


def test_kmeans_beats_random_on_a_real_photo(tmp_path):
    sheet = tmp_path / "cmp.png"
    saved = tmp_path / "results"
    proc = kquant("compare", SAMPLES / "china.jpg", "-k", "16", "--json",
                      "--side-by-side", sheet, "--save-dir", saved)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {r["method"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert list(rows) == ["kmeans", "minibatch", "random"]
    assert rows["kmeans"]["mse"] < rows["random"]["mse"]
    assert rows["kmeans"]["psnr"] > rows["random"]["psnr"]
    assert all(r["colors"] <= 16 and r["bytes"] > 0 for r in rows.values())
    # the picture: original plus three labelled panels of the image's size
    original = kq.load_image(SAMPLES / "china.jpg").pixels
    h, w = original.shape[:2]
    with Image.open(sheet) as im:
        assert im.size == (4 * w + 3 * 8, h + 22)
        panel = np.asarray(im.convert("RGB"))[22:, :w]
    np.testing.assert_array_equal(panel, original)
    # each method's result kept, with at most k colors
    for method in rows:
        with Image.open(saved / f"china-{method}-k16.png") as im:
            assert im.mode == "P" and len(im.getcolors()) <= 16


def test_compare_table_and_bad_methods(tmp_path):
    src = tmp_path / "b.png"
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[10:] = (200, 100, 0)
    Image.fromarray(rgb).save(src)
    result = kquant("compare", src, "-k", "4", "--methods", "kmeans,random")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["method", "colors", "MSE"]
    assert [line.split()[0] for line in lines[1:]] == ["kmeans", "random"]
    assert "lossless" in lines[1]  # two colors, k=4: exact
    bad = kquant("compare", src, "--methods", "kmeans,octree")
    assert bad.returncode == 2 and "octree" in bad.stderr
