"""kquant.core.dither and dithermap, through kquant.core.remap: error diffusion
with a strength, a dead zone, alpha, kept colors, the adaptive map."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import blocks, kquant, mse_rgb, read_rgba, run_kquant
from PIL import Image

from kquant import quantize
from kquant.core.dither import floyd_steinberg
from kquant.core.mapping import nearest_index


def sky(height: int = 48, width: int = 256) -> np.ndarray:
    """A smooth gradient (H, W, 3) uint8 over a narrow range, like a clear sky."""
    g = np.tile(np.linspace(40.0, 90.0, width), (height, 1))
    return np.dstack([g, 1.2 * g + 20, 0.5 * g + 150]).round().astype(np.uint8)


def scalar_floyd_steinberg(img, palette, strength=1.0, skip=None, max_error=np.inf,
                           dead_zone=0.0, levels=None, bounds=None):  # fmt: skip
    """Textbook raster-order Floyd-Steinberg, one pixel at a time (the reference), with
    errors above ``max_error`` (squared, summed over channels) diffused at 3/4, and
    the diffused error dropped where its square is below ``dead_zone``. With
    ``levels`` (256, 3), values are points of that space and each is matched through
    the 8-bit color whose points are nearest channel by channel. Values are clipped
    to ``bounds`` (low, high), by default the image's own range."""
    h, w, _ = img.shape
    v = img.astype(np.float64) if levels is None else levels[img, np.arange(3)]
    base = v.copy()
    low, high = bounds or (v.reshape(-1, 3).min(0), v.reshape(-1, 3).max(0))
    out = np.full((h, w), -1)
    for y in range(h):
        for x in range(w):
            if skip is not None and skip[y, x]:
                continue
            added = v[y, x] - base[y, x]
            c = np.clip(v[y, x] if added @ added >= dead_zone else base[y, x], low, high)
            if levels is None:
                i = nearest_index(np.rint(c).astype(np.uint8)[None], palette)[0]
            else:
                grid = [np.abs(levels[:, ch] - c[ch]).argmin() for ch in range(3)]
                point = levels[grid, np.arange(3)]
                i = int(((palette - point) ** 2).sum(axis=1).argmin())
            out[y, x] = i
            e = c - palette[i]
            if (e * e).sum() > max_error:
                e *= 0.75
            e *= strength
            for dy, dx, wgt in ((0, 1, 7), (1, -1, 3), (1, 0, 5), (1, 1, 1)):
                if y + dy < h and 0 <= x + dx < w:
                    v[y + dy, x + dx] += e * wgt / 16
    return out


@pytest.mark.parametrize("shape", [(7, 11), (13, 5), (1, 9), (9, 1), (16, 16)])
@pytest.mark.parametrize(
    "strength, max_error, dead_zone",
    [(1.0, None, 0.0), (0.4, None, 0.0), (1.0, 900.0, 0.0), (1.0, None, 300.0)],
)
def test_diagonal_sweep_equals_the_textbook_loop(shape, strength, max_error, dead_zone):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    skip = rng.random(shape) < 0.2
    lo, hi = img.reshape(-1, 3).min(0), img.reshape(-1, 3).max(0)
    got = floyd_steinberg(img, palette, strength=strength, skip=skip, low=lo, high=hi,
                          max_error=max_error, dead_zone=dead_zone)  # fmt: skip
    expected = scalar_floyd_steinberg(img, palette, strength, skip, max_error or np.inf,
                                      dead_zone)  # fmt: skip
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape", [(7, 11), (9, 1), (16, 16)])
@pytest.mark.parametrize("dead_zone", [0.0, 40.0])
@pytest.mark.parametrize("pairs", [65_536, 0])
def test_diffusion_in_the_weighted_space_goes_through_its_8_bit_grid(
    shape, dead_zone, pairs, monkeypatch
):
    """The weighted space's exact paths (issue 22), searched directly or through the
    table of colors met (``DIRECT_PAIRS`` 0: every step through the table): the same
    result as the textbook loop matching each value through its nearest 8-bit level
    per channel."""
    from kquant.core import dither

    monkeypatch.setattr(dither, "DIRECT_PAIRS", pairs)
    from kquant.core.spaces import channel_levels

    levels = channel_levels("weighted")
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    palette = levels[rng.integers(0, 256, (6, 3)), np.arange(3)]
    points = levels[img, np.arange(3)].reshape(-1, 3)
    got = floyd_steinberg(img, palette, low=points.min(0), high=points.max(0),
                          dead_zone=dead_zone, levels=levels)  # fmt: skip
    expected = scalar_floyd_steinberg(img, palette, dead_zone=dead_zone, levels=levels)
    np.testing.assert_array_equal(got, expected)


def test_the_level_grid_finds_the_nearest_level_exactly():
    from kquant.core.dither import _LevelGrid
    from kquant.core.spaces import channel_levels

    levels = channel_levels("weighted")
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 1, (5000, 3)) * levels[-1]
    mids = (levels[1:] + levels[:-1]) / 2
    values[:255] = mids  # exactly halfway: the upper level, as searchsorted's "right"
    values[255:510] = np.nextafter(mids, -np.inf)
    values[510:513] = levels[-1]
    expected = np.stack([np.searchsorted(mids[:, c], values[:, c], side="right")
                         for c in range(3)], axis=1)  # fmt: skip
    np.testing.assert_array_equal(_LevelGrid(levels)(values), expected)


def test_the_dead_zone_leaves_flat_areas_the_palette_nearly_reproduces_undithered():
    """libimagequant's rule (issue 22): an error too small to see is not passed on,
    so a flat color 1 unit off its palette entry stays one flat color."""
    img = np.full((20, 30, 3), (100, 151, 200), np.uint8)
    palette = np.array([[100, 150, 200], [100, 160, 200]], np.uint8)
    plain = floyd_steinberg(img, palette, low=0.0, high=255.0)
    assert set(np.unique(plain)) == {0, 1}  # the error adds up to a step now and then
    calm = floyd_steinberg(img, palette, low=0.0, high=255.0, dead_zone=2.0)
    assert (calm == 0).all()


def test_strength_zero_is_no_dithering_and_error_grows_with_strength():
    img = sky()
    plain = quantize(img, 4, dither="none")
    mses = []
    for strength in (0.0, 0.5, 1.0):
        q = quantize(img, 4, dither="floyd-steinberg", dither_strength=strength)
        mses.append(q.distortion.mse)
        assert q.distortion.mse == pytest.approx(mse_rgb(img, q.to_array()), rel=1e-12)
    zero = quantize(img, 4, dither="floyd-steinberg", dither_strength=0.0)
    np.testing.assert_array_equal(zero.to_array(), plain.to_array())
    assert mses[0] < mses[1] < mses[2]


def test_dithered_gradient_has_more_patterns_and_higher_blurred_ssim(tmp_path):
    src = tmp_path / "sky.png"
    Image.fromarray(sky()).save(src)
    rows = {}
    for mode in ("none", "floyd-steinberg"):
        out = tmp_path / f"{mode}.png"
        proc = kquant("compress", src, "-k", "4", "--dither", mode, "-o", out, "--json",
                          "--metrics", "ssim,ssim-blur,deltae-blur")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        rows[mode] = json.loads(proc.stdout)
        written = read_rgba(out)
        with Image.open(out) as im:  # only palette colors, at most k of them
            assert im.mode == "P" and len(im.getcolors()) <= 4
        original = np.asarray(Image.open(src).convert("RGB"))
        assert rows[mode]["mse"] == pytest.approx(mse_rgb(original, written), rel=1e-12)
        keys = written[:-1:2, :-1:2, 0].astype(int) * 7 + written[1::2, 1::2, 0] * 3
        rows[mode]["patterns"] = np.unique(keys).size
    dithered, banded = rows["floyd-steinberg"], rows["none"]
    assert dithered["patterns"] > banded["patterns"]
    # seen from a distance the dithered gradient is closer; pixel by pixel it is not
    assert dithered["ssim_blur"] > banded["ssim_blur"]
    assert dithered["delta_e_blur"] < banded["delta_e_blur"]
    assert dithered["ssim"] < banded["ssim"]
    assert dithered["dither"] == "floyd-steinberg" and dithered["dither_strength"] == 1.0


def test_dithering_keeps_transparent_pixels_transparent(tmp_path):
    rgba = np.dstack([sky(32, 64), np.full((32, 64), 255, np.uint8)])
    rgba[:, :16, 3] = 0
    rgba[:, :16, :3] = 200  # hidden colors must not leak into the error
    rgba[:, 16:24, 3] = 128
    src, out = tmp_path / "a.png", tmp_path / "o.png"
    Image.fromarray(rgba).save(src)
    proc = kquant("compress", src, "-k", "4", "--dither", "floyd-steinberg", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    written = read_rgba(out)
    assert (written[:, :16, 3] == 0).all()
    assert (written[:, 16:, 3] > 0).all()
    visible = rgba[..., 3] > 0
    assert json.loads(proc.stdout)["mse"] == pytest.approx(
        mse_rgb(rgba, written, visible), rel=1e-12
    )


def test_dithered_lab_output_is_deterministic_whatever_the_threads(tmp_path):
    """Same bytes in this process (BLAS/OpenMP on one thread: conftest.py sets it
    before numpy loads) and in another with the default threads (the thread count is
    read as a process starts)."""
    src = tmp_path / "rgba.png"
    rgba = np.dstack([blocks(48, 40), np.full((48, 40), 255, np.uint8)])
    rgba[:, :6, 3] = 0
    rgba[:, 6:12, 3] = 90
    Image.fromarray(rgba).save(src)
    args = ("compress", src, "-k", "3", "--space", "lab", "--dither", "floyd-steinberg",
            "--dither-strength", "0.7", "-o")  # fmt: skip
    assert kquant(*args, tmp_path / "a.png").returncode == 0
    blas = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    default = {k: v for k, v in os.environ.items() if k not in blas}
    assert os.environ["OMP_NUM_THREADS"] == "1"
    proc = run_kquant(*args, tmp_path / "b.png", env=default)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_no_dithering_reported_when_the_image_is_reproduced_exactly(tmp_path):
    src, out = tmp_path / "flat.png", tmp_path / "o.png"
    Image.fromarray(blocks(16, 16, noise=0)).save(src)
    proc = kquant("compress", src, "-k", "8", "--dither", "floyd-steinberg", "-o", out,
                      "--json", "-q")  # fmt: skip
    row = json.loads(proc.stdout)
    assert row["dither"] == "none" and row["mse"] == 0.0
    assert not any("dithered" in note for note in row["notes"])


def test_the_dither_map_keeps_bands_and_spares_edges_and_noise():
    """--dither adaptive (issue 22): libimagequant's map is near full strength inside
    wide bands of one palette index, and low on an edge and on noise."""
    from kquant.core.dithermap import dither_map

    ramp = np.tile(np.linspace(0, 255, 64), (32, 1)).astype(np.uint8)
    smooth = np.dstack([ramp] * 3)
    bands = (ramp // 64).astype(np.int32)  # 4 wide bands
    m = dither_map(smooth, bands)
    assert m.shape == (32, 64) and m.min() >= 0 and m.max() <= 1
    assert np.median(m[8:24, 4:12]) > 0.6  # inside a band of a smooth ramp
    edge = np.zeros((32, 64, 3), np.uint8)
    edge[:, 32:] = 255
    assert dither_map(edge, (edge[..., 0] > 0).astype(np.int32))[:, 31:33].max() < 0.45
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    noisy = dither_map(noise, rng.integers(0, 16, (32, 64)).astype(np.int32))
    assert np.median(noisy) < np.median(m) / 2


def test_a_strength_map_of_ones_or_zeros_is_plain_diffusion_or_none():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)
    pal = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 30], [30, 30, 200]], np.uint8)
    ones, zeros = np.ones((12, 9)), np.zeros((12, 9))
    np.testing.assert_array_equal(floyd_steinberg(img, pal, strength=ones),
                                  floyd_steinberg(img, pal, strength=1.0))  # fmt: skip
    np.testing.assert_array_equal(floyd_steinberg(img, pal, strength=zeros),
                                  floyd_steinberg(img, pal, strength=0.0))  # fmt: skip


def test_adaptive_dither_from_the_command_line(tmp_path):
    Image.fromarray(blocks(48, 48, noise=40)).save(tmp_path / "x.png")
    runs = []
    for name in ("a.png", "b.png"):
        ran = kquant("compress", tmp_path / "x.png", "-k", "4", "--dither", "adaptive",
                     "-o", tmp_path / name, "--json")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        runs.append(json.loads(ran.stdout))
    assert runs[0]["dither"] == "adaptive"
    assert any("dither map" in note for note in runs[0]["notes"])
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    plain = kquant("compress", tmp_path / "x.png", "-k", "4", "--dither", "none", "-o",
                   tmp_path / "c.png", "--json")  # fmt: skip
    assert json.loads(plain.stdout)["mse"] <= runs[0]["mse"]  # dithering costs MSE


def test_weighted_dithering_from_the_command_line_is_deterministic(tmp_path):
    Image.fromarray(blocks(48, 48, noise=40)).save(tmp_path / "x.png")
    outs = []
    for name in ("a.png", "b.png"):
        ran = kquant("compress", tmp_path / "x.png", "-k", "8", "--space", "weighted",
                     "--dither", "floyd-steinberg", "-o", tmp_path / name, "--json")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        outs.append((tmp_path / name).read_bytes())
        assert json.loads(ran.stdout)["space"] == "weighted"
    assert outs[0] == outs[1]


def test_dithering_keeps_kept_colors_exact():
    """--keep-color under the default dithering: pixels of a kept color keep it
    (diffused error would push some onto other rows) and pass no error on."""
    ramp = np.tile(np.linspace(0, 255, 90), (60, 1))
    img = np.dstack([ramp, ramp[:, ::-1], np.full_like(ramp, 128)]).round().astype(np.uint8)
    brand = np.array([100, 150, 128], np.uint8)
    img[::5] = brand
    for space in ("weighted", "rgb"):
        q = quantize(img, 4, keep=brand[None], space=space)
        out = q.to_array()
        assert (out[::5] == brand).all()
        assert len(np.unique(out[1::5].reshape(-1, 3), axis=0)) >= 3  # the rest is dithered


def test_transparent_pixels_do_not_send_opaque_images_down_the_float_path():
    """An RGBA image whose visible pixels are all opaque dithers on the exact 8-bit
    path, as RGB does: with the transparent pixels in the last row (which passes no
    error on to anything), the other rows come out as for the RGB image alone."""
    rgb = blocks(40, 48, noise=30)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[-1, :, 3] = 0
    palette = quantize(rgb, 8, dither="none").palette
    for space in ("weighted", "rgb"):
        a = quantize(rgba, palette=palette, space=space).to_array()
        b = quantize(rgb[:-1], palette=palette, space=space).to_array()
        np.testing.assert_array_equal(a[:-1, :, :3], b)
        assert (a[-1, :, 3] == 0).all() and (a[:-1, :, 3] == 255).all()


@pytest.mark.parametrize("rows, dtype", [(32766, np.int16), (32767, np.int32)])
def test_rows_are_two_bytes_a_pixel_up_to_32766_palette_rows(rows, dtype):
    """The dithered rows are int16 (and the table of colors met uint16) while they
    fit; from 32,767 rows int32, with the same result as the textbook loop."""
    rng = np.random.default_rng(rows)
    img = rng.integers(0, 256, (12, 15, 3), dtype=np.uint8)
    keys = rng.choice(1 << 24, rows, replace=False)
    palette = np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
    lo, hi = img.reshape(-1, 3).min(0), img.reshape(-1, 3).max(0)
    got = floyd_steinberg(img, palette, low=lo, high=hi)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, scalar_floyd_steinberg(img, palette))


@pytest.mark.parametrize("pairs", [65_536, 0])
@pytest.mark.parametrize("rows, dtype", [(256, np.uint8), (257, np.int16)])
def test_a_caller_that_drops_skipped_pixels_gets_one_byte_a_pixel(rows, dtype, pairs,
                                                                  monkeypatch):  # fmt: skip
    """``fill=0`` (kquant's remap): up to 256 rows the index is uint8, skipped pixels
    0 and the rest the textbook loop's, searched directly or through the table of
    colors met (a byte a color and a bitmap of those known); 257 rows take int16."""
    from kquant.core import dither

    monkeypatch.setattr(dither, "DIRECT_PAIRS", pairs)
    rng = np.random.default_rng(rows + pairs)
    img = rng.integers(0, 256, (14, 17, 3), dtype=np.uint8)
    img[3:6] = img[3, 0]  # a repeated color: found in the table the second time
    keys = rng.choice(1 << 24, rows, replace=False)
    palette = np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
    skip = rng.random(img.shape[:2]) < 0.2
    lo, hi = img.reshape(-1, 3).min(0), img.reshape(-1, 3).max(0)
    got = floyd_steinberg(img, palette, skip=skip, low=lo, high=hi, fill=0)
    expected = scalar_floyd_steinberg(img, palette, skip=skip)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.where(skip, 0, expected))
    with pytest.raises(ValueError, match="fill must be -1 or 0"):
        floyd_steinberg(img, palette, fill=1)


@pytest.mark.parametrize("levels", [False, True])
def test_tiles_one_pixel_apart_are_diffused_together_as_images_of_their_own(levels):
    """Frames of an animation laid out in a grid with skipped pixels between them:
    diffused together (``tiles``), each frame is what the textbook loop gives for
    it alone, and the whole is what the sweep over the whole image gives."""
    from kquant.core.spaces import channel_levels

    rng = np.random.default_rng(5)
    h, w, rows, cols = 9, 7, 2, 3
    height, width = rows * (h + 1) - 1, cols * (w + 1) - 1
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    skip = np.zeros((height, width), bool)
    skip[h :: h + 1] = True
    skip[:, w :: w + 1] = True
    lv = channel_levels("weighted") if levels else None
    palette = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    if levels:
        palette = lv[palette, np.arange(3)]
    points = img.astype(np.float64) if lv is None else lv[img, np.arange(3)]
    bounds = points.reshape(-1, 3).min(0), points.reshape(-1, 3).max(0)
    kw = {"skip": skip, "max_error": 900.0 if levels else None, "levels": lv,
          "low": bounds[0], "high": bounds[1]}  # fmt: skip
    whole = floyd_steinberg(img, palette, **kw)
    tiled = floyd_steinberg(img, palette, tiles=(h, w), **kw)
    np.testing.assert_array_equal(tiled, whole)
    assert (tiled[skip] == -1).all()
    for r in range(rows):
        for c in range(cols):
            part = (slice(r * (h + 1), r * (h + 1) + h), slice(c * (w + 1), c * (w + 1) + w))
            alone = scalar_floyd_steinberg(img[part], palette, max_error=kw["max_error"] or np.inf,
                                           levels=lv, bounds=bounds)  # fmt: skip
            np.testing.assert_array_equal(tiled[part], alone)
    with pytest.raises(ValueError, match="between tiles must be skipped"):
        floyd_steinberg(img, palette, tiles=(h, w), levels=lv, skip=skip & False)


def test_the_table_of_colors_met_goes_cube_by_cube():
    """The dithering's table of nearest rows is laid out in 16x16x16 cubes (issue 26):
    every 8-bit color has its own key below 2**24, and a cube's colors share one
    4 KB page, so a photo's colors touch a fraction of the 16 MB."""
    from kquant.core.dither import _cube_keys_of

    v = np.arange(256)
    grid = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(-1, 3)
    keys = _cube_keys_of(grid)
    assert keys.min() == 0 and keys.max() == (1 << 24) - 1
    assert np.unique(keys).size == 1 << 24
    cube = grid[(grid[:, 0] // 16 == 5) & (grid[:, 1] // 16 == 9) & (grid[:, 2] // 16 == 2)]
    pages = np.unique(_cube_keys_of(cube) >> 12)
    assert cube.shape[0] == 4096 and pages.size == 1
