"""End to end on the shipped sample images, through the ``kquant`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import SAMPLES, kquant, mse_rgb, read_rgba
from PIL import Image

import kquant as kq

#: PSNR of the classic scikit-learn recipe on china.jpg at k=64 (KMeans with
#: random_state=0 on 1000 shuffled pixels, then predict every pixel).
CLASSIC_CHINA_K64_PSNR = 31.69


def test_china_k64_beats_the_classic_recipe(tmp_path):
    """The MSE-minimal output (RGB, undithered) has a higher PSNR than the recipe."""
    out = tmp_path / "china-k64.png"
    proc = kquant("compress", SAMPLES / "china.jpg", "-k", "64", "-o", out, "--json",
                  "--space", "rgb", "--dither", "none")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    with Image.open(out) as im:
        assert im.mode == "P"
        assert len(im.getcolors()) == 64
    assert report["colors_out"] == 64
    assert report["psnr"] >= CLASSIC_CHINA_K64_PSNR
    assert report["bytes_out"] < report["bytes_in"]
    original = kq.load_image(SAMPLES / "china.jpg").pixels
    assert report["mse"] == pytest.approx(mse_rgb(original, read_rgba(out)), rel=1e-12)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
)
def test_every_sample_image(tmp_path, name):
    src = SAMPLES / name
    out = tmp_path / "out.png"
    proc = kquant("compress", src, "-k", "32", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    loaded = kq.load_image(src)
    written = read_rgba(out)
    assert report["colors_out"] <= 32
    assert report["psnr"] is None or report["psnr"] > 20
    if loaded.has_alpha:
        np.testing.assert_array_equal(written[..., 3] == 0, loaded.pixels[..., 3] == 0)
    if loaded.grayscale:
        assert np.array_equal(written[..., 0], written[..., 2])
