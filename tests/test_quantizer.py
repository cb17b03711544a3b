"""kquant.core.quantizer: quantize on synthetic images with a known answer, and
quantize_to_target."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import BLOCK_COLORS, SAMPLES, blocks, mse_rgb
from helpers import kquant as run
from PIL import Image

import kquant


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


SIX = np.array(
    [[10, 20, 30], [200, 10, 10], [10, 200, 10], [10, 10, 200], [250, 250, 0], [0, 250, 250]],
    np.uint8,
)


@pytest.mark.parametrize("method", ["kmeans", "minibatch"])
def test_four_blocks_k4_recovers_the_colors(method):
    q = kquant.quantize(blocks(), k=4, method=method, seed=0)
    assert q.palette.shape == (4, 3)
    np.testing.assert_allclose(
        _sorted_rows(q.palette).astype(float), _sorted_rows(BLOCK_COLORS).astype(float), atol=2
    )
    # each quadrant is one index
    for quadrant in (q.indices[:32, :32], q.indices[:32, 32:], q.indices[32:, :32]):
        assert np.unique(quadrant).size == 1
    assert q.distortion.mse == pytest.approx(mse_rgb(blocks(), q.to_array()))
    assert q.distortion.mse < 15  # noise of +-6 has variance ~14


def test_kmeans_beats_random_codebook():
    rng = np.random.default_rng(0)
    img = np.clip(
        blocks(96, 96, noise=0).astype(int) + rng.normal(0, 25, (96, 96, 3)), 0, 255
    ).astype(np.uint8)
    km = kquant.quantize(img, k=8, method="kmeans")
    rnd = kquant.quantize(img, k=8, method="random")
    assert km.distortion.mse < rnd.distortion.mse


def test_result_uses_only_palette_colors_and_at_most_k():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (60, 70, 3), dtype=np.uint8)
    q = kquant.quantize(img, k=16)
    assert q.indices.dtype == np.uint8 and q.indices.shape == (60, 70)
    assert q.palette.shape[0] <= 16 == q.colors_out
    assert q.indices.max() < q.palette.shape[0]
    assert q.colors_in == np.unique(img.reshape(-1, 3), axis=0).shape[0]


def test_every_pixel_gets_its_exact_nearest_palette_color():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    q = kquant.quantize(img, k=32, seed=3, dither="none", space="rgb")
    d = ((img.reshape(-1, 1, 3).astype(int) - q.palette[None].astype(int)) ** 2).sum(-1)
    got = q.indices.reshape(-1)
    np.testing.assert_array_equal(d[np.arange(len(got)), got], d.min(axis=1))  # exact
    # among equally near entries, the lowest color wins
    rank = np.empty(len(q.palette), int)
    rank[np.lexsort(q.palette.T[::-1])] = np.arange(len(q.palette))
    masked = np.where(d == d.min(axis=1, keepdims=True), rank[None, :], len(q.palette))
    np.testing.assert_array_equal(rank[got], masked.min(axis=1))


def test_same_seed_same_result_other_seed_differs():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    a = kquant.quantize(img, k=16, seed=7, sample=2000)
    b = kquant.quantize(img, k=16, seed=7, sample=2000)
    c = kquant.quantize(img, k=16, seed=8, sample=2000)
    np.testing.assert_array_equal(a.palette, b.palette)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert not np.array_equal(a.palette, c.palette)


def test_k_above_distinct_colors_reproduces_exactly_without_warnings():
    img = blocks(noise=0)
    q = kquant.quantize(img, k=64)  # pytest turns any warning into an error
    assert q.fit_pixels == 0
    assert q.colors_in == q.colors_out == 4
    np.testing.assert_array_equal(q.to_array(), img)
    assert q.distortion.mse == 0 and q.distortion.psnr is None


@pytest.mark.parametrize("method", ["kmeans", "minibatch", "random"])
def test_sample_with_fewer_distinct_colors_than_k_falls_back_to_all(method):
    # 40 distinct colors, but a 10-pixel sample cannot hold 20 of them
    img = np.repeat(np.arange(40, dtype=np.uint8)[:, None] * 6, 3, axis=1)[None].repeat(5, 0)
    q = kquant.quantize(img, k=20, sample=10, method=method)
    assert q.colors_out <= 20
    assert q.fit_pixels == 200 or method == "random"


def test_sample_all_and_sample_n():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    assert kquant.quantize(img, k=8, sample=None).fit_pixels == 10_000
    assert kquant.quantize(img, k=8, sample=3000).fit_pixels == 3000
    assert kquant.quantize(img, k=8, sample=50_000).fit_pixels == 10_000


def test_palette_ordered_by_use():
    img = np.zeros((10, 10, 3), np.uint8)
    img[:2] = 200  # 20 pixels
    img[2:3] = 100  # 10 pixels, black is 70
    q = kquant.quantize(img, k=3)
    assert q.palette.tolist() == [[0, 0, 0], [200, 200, 200], [100, 100, 100]]


def test_transparent_pixels_take_no_slot_and_stay_transparent():
    rgb = blocks(noise=0)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :8] = 0
    rgba = np.dstack([rgb, alpha])
    # hidden colors under alpha 0 must not get palette slots
    rgba[:, :8, :3] = np.random.default_rng(0).integers(0, 256, (64, 8, 3), dtype=np.uint8)
    q = kquant.quantize(rgba, k=4)
    assert q.has_alpha and q.transparent_index == 0
    assert q.palette[0].tolist() == [0, 0, 0, 0]
    assert q.colors_out == 4  # the four visible colors, exactly
    out = q.to_array()
    np.testing.assert_array_equal(out[..., 3] == 0, alpha == 0)
    np.testing.assert_array_equal(out[:, 8:], rgba[:, 8:])
    assert q.distortion.mse == 0


def test_k256_with_transparency_fits_in_256_entries():
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(rng.random((64, 64)) < 0.2, 0, 255)
    q = kquant.quantize(rgba, k=256)
    assert q.palette.shape[0] <= 256 and q.indices.dtype == np.uint8
    assert q.colors_out <= 255


def test_fully_transparent_image():
    rgba = np.zeros((5, 5, 4), np.uint8)
    q = kquant.quantize(rgba, k=4)
    assert q.palette.tolist() == [[0, 0, 0, 0]]
    assert q.colors_out == 0 and q.distortion.psnr is None


def test_gray_input_stays_gray():
    rng = np.random.default_rng(6)
    gray = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    q = kquant.quantize(gray, k=8)
    assert q.palette.shape[1] == 3
    assert np.all(q.palette[:, 0] == q.palette[:, 1])
    assert np.all(q.palette[:, 1] == q.palette[:, 2])


def test_more_than_256_colors_uses_uint16_indices():
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    q = kquant.quantize(img, k=300, sample=None)
    assert q.indices.dtype == np.uint16
    assert 256 < q.colors_out <= 300


def test_accepts_pil_images():
    im = Image.fromarray(blocks()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    q = kquant.quantize(im, k=4)
    assert q.palette.shape == (4, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be between"),
        ({"k": 70_000}, "k must be between"),
        ({"sample": 0}, "sample must be"),
        ({"method": "octree"}, "unknown method"),
        ({"space": "hsv"}, "unknown color space"),
        ({"dither": "ordered"}, "unknown dither"),
        ({"dither_strength": -0.1}, "dither strength"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kquant.quantize(blocks(), **kwargs)


def test_bad_arrays_raise_value_error():
    with pytest.raises(ValueError, match="uint8"):
        kquant.quantize(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        kquant.quantize(np.zeros((4, 4, 2), np.uint8))


def test_target_psnr_finds_the_smallest_k_on_a_known_answer():
    from kquant.core.quantizer import quantize_to_target

    img = SIX[np.random.default_rng(0).integers(0, 6, (40, 40))]
    # above any lossy PSNR: only the exact result (6 colors) reaches it
    k, q, met = quantize_to_target(img, 256, target_psnr=80)
    assert (k, met, q.colors_out, q.distortion.psnr) == (6, True, 6, None)
    np.testing.assert_array_equal(q.to_array(), img)
    # a target no k up to 4 reaches: the largest is returned, and says so
    k, q, met = quantize_to_target(img, 4, target_psnr=80)
    assert (k, met) == (4, False) and q.colors_out == 4
    # an MSE ceiling works the same way, and the k found is the smallest
    k, q, met = quantize_to_target(img, 256, max_mse=2000)
    assert met and q.distortion.mse <= 2000
    assert kquant.quantize(img, k - 1).distortion.mse > 2000
    with pytest.raises(ValueError, match="exactly one"):
        quantize_to_target(img, 8)


def test_prepared_image_gives_the_same_result_as_the_image():
    from kquant.core.quantizer import prepare

    rng = np.random.default_rng(9)
    rgba = rng.integers(0, 256, (30, 30, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(rng.random((30, 30)) < 0.3, 0, 255)
    prepared = prepare(rgba)
    for k in (3, 17):
        a, b = kquant.quantize(rgba, k), kquant.quantize(prepared, k)
        np.testing.assert_array_equal(a.palette, b.palette)
        np.testing.assert_array_equal(a.indices, b.indices)


def test_to_image_is_what_a_png_would_hold():
    rgba = np.dstack([blocks(16, 16), np.full((16, 16), 255, np.uint8)])
    rgba[:4, :, 3] = 0
    q = kquant.quantize(rgba, k=4)
    im = q.to_image()
    assert im.mode == "P" and im.size == (16, 16)
    np.testing.assert_array_equal(np.asarray(im.convert("RGBA")), q.to_array())
    many = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    big = kquant.quantize(many, k=300).to_image()  # above 256 entries: RGB
    assert big.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(big), kquant.quantize(many, k=300).to_array())


@pytest.mark.parametrize("target", [28.0, 34.0])
def test_a_target_run_writes_a_file_that_meets_it(tmp_path, target):
    """Decoded independently, the written file reaches the target, with fewer colors
    than -k; the library's search, run again, gives the same k and the same pixels.
    (A 200x150 crop of the photo: the search is the same, at a tenth of the cost.)"""
    src = tmp_path / "coffee.png"
    Image.open(SAMPLES / "coffee.png").crop((200, 120, 400, 270)).save(src)
    ran = run("compress", src, "--target-psnr", str(target), "-o", tmp_path / "b.png", "--json")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    original = kquant.load_image(src).pixels
    written = np.asarray(Image.open(tmp_path / "b.png").convert("RGB"))
    psnr = 10 * np.log10(255**2 / mse_rgb(original, written))
    assert psnr >= target and report["psnr"] == pytest.approx(psnr)
    k, q, met = kquant.quantize_to_target(original, 256, target_psnr=target)
    assert met and k == report["k"] < 256 and q.distortion.psnr == pytest.approx(psnr)
    np.testing.assert_array_equal(q.to_array(), written)


def test_held_pixels_keep_their_rows_when_the_palette_holds_every_color():
    """``hold`` applies whenever dithering is asked for, even with a palette that
    holds every color exactly (nothing to diffuse: the strength used is 0); with
    ``dither="none"`` it is not applied."""
    img = np.zeros((4, 6, 3), np.uint8)
    img[:, 3:] = (200, 30, 30)
    palette = np.array([[0, 0, 0], [200, 30, 30], [9, 9, 9]], np.uint8)  # 2 exact, 1 spare
    mask = np.zeros((4, 6), bool)
    mask[0, :2] = mask[1, 4] = True
    rows = np.full((4, 6), 2, np.int32)
    exact = np.where(np.arange(6) < 3, 0, 1)[None].repeat(4, axis=0)
    held = kquant.quantize(img, palette=palette, whole_palette=True, hold=(mask, rows),
                           dither="floyd-steinberg")  # fmt: skip
    assert held.dither_strength == 0.0
    np.testing.assert_array_equal(held.indices, np.where(mask, 2, exact))
    assert held.distortion.max_error == 191 and held.colors_out == 3  # 200 - 9, row 2 used
    plain = kquant.quantize(img, palette=palette, whole_palette=True, hold=(mask, rows),
                            dither="none")  # fmt: skip
    np.testing.assert_array_equal(plain.indices, exact)
    assert plain.distortion.mse == 0.0


@pytest.mark.parametrize("space", ["weighted", "rgb", "lab"])
def test_a_prepared_image_quantized_once_drops_its_points_before_dithering(space):
    """``quantize`` on pixels (issue 26) tells ``remap`` the prepared image is its
    own: on the 8-bit grid (RGB, weighted) the fit's points are dropped before the
    sweep, which does not need them (Lab does, and keeps them); the result is the
    same as when they are kept."""
    from kquant.core.fit import fit
    from kquant.core.histogram import prepare
    from kquant.core.remap import order_rows, remap
    from kquant.settings import FitOptions

    rng = np.random.default_rng(5)
    img = np.repeat(rng.integers(0, 256, (6, 1, 3), dtype=np.uint8), 40, axis=1)
    img = np.clip(img.astype(int) + rng.integers(-9, 10, img.shape), 0, 255).astype(np.uint8)
    got = {}
    for keep in (True, False):
        prep = prepare(img)
        palette = fit(prep.histogram(), 4, FitOptions(space=space, seed=0))
        got[keep] = remap(prep, palette, keep_points=keep)
        assert bool(prep._points) == (keep or space == "lab")
    np.testing.assert_array_equal(got[True].indices, got[False].indices)
    np.testing.assert_array_equal(got[True].palette, got[False].palette)
    labels = rng.integers(0, 5, 1000).astype(np.int16)
    rows = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    new_rows, expected = order_rows(rows, labels)
    same_rows, in_place = order_rows(rows, labels.copy(), overwrite=True)
    np.testing.assert_array_equal(new_rows, same_rows)
    np.testing.assert_array_equal(in_place, expected)


def test_an_image_quantized_once_maps_as_a_prepared_one_without_keeping_its_points(
    monkeypatch,
):
    """quantize() on an array owns its prepared image and drops the weighted space's
    points after the fit, mapping through points made a block at a time (issue 26);
    a Prepared image keeps them for the next k. Both give the same pixels."""
    import kquant.core.remap as remap
    from kquant.core.histogram import prepare

    rng = np.random.default_rng(12)
    img = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    prep = prepare(img)
    kept = kquant.quantize(prep, 24, dither="none")
    assert "weighted" in prep._points  # kept for the next k
    blockwise = []

    class Spy(remap.NearestPalette):
        def __call__(self, colors, points_of=None):
            blockwise.append(points_of is not None)
            return super().__call__(colors, points_of)

    monkeypatch.setattr(remap, "NearestPalette", Spy)
    owned = kquant.quantize(img, 24, dither="none")
    assert blockwise == [True]
    np.testing.assert_array_equal(owned.indices, kept.indices)
    np.testing.assert_array_equal(owned.palette, kept.palette)
