"""kquant.core.metrics: MSE, PSNR, max error, and the perceptual measures (checked
against scikit-image's reference functions and the ssimulacra2 package)."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
from helpers import blocks, kquant, read_rgba
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from kquant import quantize
from kquant.core.colors import color_histogram, lookup
from kquant.core.metrics import (
    distortion_from_histogram,
    image_distortion,
    mean_delta_e,
    psnr,
    ssim,
)


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


def test_delta_e_agrees_with_scikit_image():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-25, 26, a.shape), 0, 255).astype(np.uint8)
    per_pixel = deltaE_ciede2000(rgb2lab(a), rgb2lab(b))
    assert mean_delta_e(a, b).value == pytest.approx(per_pixel.mean(), rel=1e-12)
    visible = rng.random((40, 30)) < 0.5
    assert mean_delta_e(a, b, visible).value == pytest.approx(per_pixel[visible].mean(), rel=1e-12)
    ga, gb = (gaussian_filter(x.astype(float), (1, 1, 0)) for x in (a, b))
    blurred = deltaE_ciede2000(rgb2lab(ga / 255), rgb2lab(gb / 255)).mean()
    assert mean_delta_e(a, b, blur=1.0).value == pytest.approx(blurred, rel=1e-12)
    assert mean_delta_e(a, a).value == 0.0


def test_ssim_agrees_with_scikit_image_and_samples_strips():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (300, 70, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    reference = structural_similarity(a, b, channel_axis=2, data_range=255)
    full = ssim(a, b)
    assert full.value == pytest.approx(reference, rel=1e-12) and not full.sampled
    ga, gb = (gaussian_filter(x.astype(float), (1, 1, 0)) for x in (a, b))
    blurred = structural_similarity(ga, gb, channel_axis=2, data_range=255)
    assert ssim(a, b, blur=1.0).value == pytest.approx(blurred, rel=1e-12)
    part = ssim(a, b, max_pixels=10_000)
    assert part.sampled and part.rows < part.of_rows == 294
    assert part.value == pytest.approx(reference, abs=0.02)
    assert ssim(a[:5], b[:5]).value is None  # smaller than the 7x7 window


def test_metrics_in_the_report_and_csv(tmp_path, blocks_png):
    out, csv_path = tmp_path / "o.png", tmp_path / "r.csv"
    proc = kquant("compress", blocks_png, "-k", "3", "-o", out, "--json", "--metrics", "all",
                      "--space", "lab", "--report", csv_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    original = np.asarray(Image.open(blocks_png).convert("RGB"))
    written = read_rgba(out)[..., :3]
    assert row["delta_e"] == pytest.approx(
        deltaE_ciede2000(rgb2lab(original), rgb2lab(written)).mean(), rel=1e-9
    )
    assert row["ssim"] == pytest.approx(
        structural_similarity(original, written, channel_axis=2, data_range=255), rel=1e-9
    )
    assert row["space"] == "lab" and 0 < row["ssim_blur"] <= 1 and row["delta_e_blur"] > 0
    assert "deltaE2000" in proc.stderr and "blurred SSIM" in proc.stderr
    header = csv_path.read_text().splitlines()[0].split(",")
    assert {"space", "dither", "delta_e", "ssim", "ssim_blur"} <= set(header)
    plain = kquant("compress", blocks_png, "-k", "3", "-o", tmp_path / "p.png", "--json")
    assert json.loads(plain.stdout)["ssim"] is None  # not asked, not computed


def test_ssimulacra2_scores_identity_100_and_composites_alpha_on_two_grays():
    """--metrics ssimulacra2 (issue 22): the pip package's score, 100 for the same
    image, lower for a worse one; with alpha only what shows counts (the hidden
    colors of transparent pixels change nothing), the worse of two backgrounds."""
    from ssimulacra2 import compute_ssimulacra2

    from kquant.core.metrics import ssimulacra2

    img = blocks(64, 64, noise=20)
    assert ssimulacra2(img, img).value == pytest.approx(100.0)
    coarse = quantize(img, 4).to_array()
    finer = quantize(img, 32).to_array()
    low, high = ssimulacra2(img, coarse).value, ssimulacra2(img, finer).value
    assert low < high < 100.0
    files = []
    for pixels in (img, coarse):
        files.append(io.BytesIO())
        Image.fromarray(pixels).save(files[-1], format="PNG")
        files[-1].seek(0)
    assert low == pytest.approx(compute_ssimulacra2(*files), rel=1e-9)
    rgba = np.dstack([img, np.full((64, 64), 255, np.uint8)])
    rgba[:, :16, 3] = 0
    hidden = rgba.copy()
    hidden[:, :16, :3] = 255 - hidden[:, :16, :3]
    assert ssimulacra2(rgba, hidden).value == pytest.approx(100.0)
    half = rgba.copy()
    half[:, 16:32, 3] = 128  # half-transparent in the result only
    assert ssimulacra2(rgba, half).value < 100.0
    assert ssimulacra2(img[:7], img[:7]).value is None  # under 8 px on a side
    # above whole_pixels: tiles of about 512 px, the mean weighted by their pixels
    wide = np.tile(img, (2, 18, 1))[:, :1100]  # 128 x 1100: two tiles of 550
    worse = np.tile(coarse, (2, 18, 1))[:, :1100]
    worse[:, 550:] = np.tile(finer, (2, 9, 1))[:, :550]  # 9 x 64 = 576 columns
    tiled = ssimulacra2(wide, worse, whole_pixels=1000)
    halves = [ssimulacra2(wide[:, s], worse[:, s]).value for s in (np.s_[:550], np.s_[550:])]
    assert tiled.value == pytest.approx(np.mean(halves), rel=1e-12) and "2 tiles" in tiled.how
    assert ssimulacra2(wide, worse).how is None  # under a megapixel: whole


def test_ssimulacra2_from_the_command_line_and_without_the_package(tmp_path, monkeypatch):
    Image.fromarray(blocks(40, 40, noise=20)).save(tmp_path / "x.png")
    ran = kquant("compress", tmp_path / "x.png", "-k", "4", "-o", tmp_path / "o.png",
                 "--json", "--metrics", "ssimulacra2")  # fmt: skip
    row = json.loads(ran.stdout)
    assert 0 < row["ssimulacra2"] < 100 and row["ssim"] is None
    assert "SSIMULACRA 2" in ran.stderr
    every = kquant("compress", tmp_path / "x.png", "-k", "4", "-o", tmp_path / "p.png",
                   "--json", "--metrics", "all")  # fmt: skip
    assert json.loads(every.stdout)["ssimulacra2"] is None  # all: no optional package
    monkeypatch.setitem(sys.modules, "ssimulacra2", None)  # as if not installed
    missing = kquant("compress", tmp_path / "x.png", "-k", "4", "-o", tmp_path / "q.png",
                     "--metrics", "ssimulacra2")  # fmt: skip
    assert missing.returncode == 2 and "pip install 'kquant[ssimulacra2]'" in missing.stderr
    assert not (tmp_path / "q.png").exists()
