"""Library: reading every supported mode and format, writing every output format."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import SAMPLES, blocks, huge_png, kquant, read_rgba, smaller_sample
from PIL import Image

from kquant import defaults
from kquant.errors import ImageReadError, ImageTooLargeError, OutputExistsError, UsageError
from kquant.io.images import format_for, load_image, save_quantized


def test_default_pixel_limit_is_pillows():
    assert defaults.DEFAULT_MAX_PIXELS == Image.MAX_IMAGE_PIXELS


def _save(tmp_path: Path, im: Image.Image, name: str, **kw) -> Path:
    path = tmp_path / name
    im.save(path, **kw)
    return path


GRAY = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # (8, 64)


@pytest.mark.parametrize(
    ("mode", "name"),
    [("L", "g.png"), ("L", "g.jpg"), ("L", "g.bmp"), ("L", "g.tif"), ("L", "g.webp")],
)
def test_gray_8bit_formats(tmp_path, mode, name):
    kw = {"lossless": True} if name.endswith(".webp") else {}
    kw |= {"quality": 100} if name.endswith(".jpg") else {}
    path = _save(tmp_path, Image.fromarray(GRAY, mode), name, **kw)
    img = load_image(path)
    assert img.grayscale == (not name.endswith(".webp"))  # WebP stores gray as RGB
    assert not img.has_alpha
    assert img.pixels.shape == (8, 64, 3)
    tol = 2 if name.endswith(".jpg") else 0
    np.testing.assert_allclose(img.pixels[..., 0], GRAY, atol=tol)
    np.testing.assert_array_equal(img.pixels[..., 0], img.pixels[..., 2])


def test_mode_1(tmp_path):
    bits = (np.indices((8, 8)).sum(0) % 2).astype(bool)
    path = _save(tmp_path, Image.fromarray(bits), "b.png")
    img = load_image(path)
    assert img.grayscale
    np.testing.assert_array_equal(img.pixels[..., 1], np.where(bits, 255, 0))


def test_16bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], np.uint16)
    path = _save(tmp_path, Image.fromarray(values), "g16.png")
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    img = load_image(path)
    assert img.pixels[0, :, 0].tolist() == [0, 1, 128, 255]


def test_mode_I_and_F(tmp_path):
    i32 = Image.fromarray(np.array([[0, 1000, 65535]], np.int32), "I")
    assert load_image(_save(tmp_path, i32, "i.tif")).pixels[0, :, 0].tolist() == [0, 4, 255]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F")
    assert load_image(_save(tmp_path, f, "f.tif")).pixels[0, :, 0].tolist() == [0, 128, 255]


def test_LA_keeps_alpha(tmp_path):
    la = np.dstack([GRAY, np.where(GRAY > 100, 255, 0).astype(np.uint8)])
    img = load_image(_save(tmp_path, Image.fromarray(la, "LA"), "la.png"))
    assert img.grayscale and img.has_alpha
    np.testing.assert_array_equal(img.pixels[..., 3], la[..., 1])


def test_P_with_transparency(tmp_path):
    p = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), "L")
    p.putpalette([10, 20, 30, 200, 0, 0, 0, 0, 255])
    p.info["transparency"] = 0
    path = _save(tmp_path, p, "p.png", transparency=0)
    img = load_image(path)
    assert img.has_alpha
    assert img.pixels[0, 0, 3] == 0 and img.pixels[0, 1].tolist() == [200, 0, 0, 255]


def test_P_gif_first_frame_and_frame_count(tmp_path):
    frames = [Image.fromarray(np.full((4, 4, 3), v, np.uint8)) for v in (10, 120, 240)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    img = load_image(path)
    assert img.frames == 3 and img.format == "GIF"
    assert img.pixels[0, 0].tolist() == [10, 10, 10]


def test_rgba_opaque_alpha_is_dropped(tmp_path):
    rgba = np.dstack([blocks(8, 8), np.full((8, 8), 255, np.uint8)])
    img = load_image(_save(tmp_path, Image.fromarray(rgba), "o.png"))
    assert not img.has_alpha and img.pixels.shape == (8, 8, 3)


def test_cmyk_jpeg(tmp_path):
    rgb = blocks(16, 16, noise=0)
    path = _save(tmp_path, Image.fromarray(rgb).convert("CMYK"), "c.jpg", quality=100)
    img = load_image(path)
    assert img.mode == "CMYK" and img.pixels.shape == (16, 16, 3)
    np.testing.assert_allclose(img.pixels.astype(int), rgb.astype(int), atol=12)


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :10] = 255  # left half white
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = _save(tmp_path, im, "r.jpg", exif=exif, quality=100)
    img = load_image(path)
    assert img.pixels.shape[:2] == (20, 10)
    assert img.pixels[2, 5, 0] > 200 and img.pixels[-3, 5, 0] < 50  # white on top now


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty file"),
        (b"hello, this is not an image\n", "not an image"),
        (None, "truncated or corrupt"),
    ],
)
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.png"
    if content is None:
        good = tmp_path / "good.jpg"
        Image.fromarray(blocks(64, 64)).save(good, quality=90)
        content = good.read_bytes()[:400]
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=match) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="is a directory"):
        load_image(tmp_path)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    path = huge_png(tmp_path / "bomb.png", 10_000, 9_000)  # 90 MP > Pillow's 89.5 MP
    with pytest.raises(ImageTooLargeError, match="10000x9000") as info:
        load_image(path)
    assert info.value.limit == Image.MAX_IMAGE_PIXELS
    # a raised limit gets past the guard (and then fails on the missing data)
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        load_image(path, max_pixels=100_000_000)
    # our own limit applies to small images too
    small = tmp_path / "s.png"
    Image.fromarray(blocks(20, 20)).save(small)
    with pytest.raises(ImageTooLargeError):
        load_image(small, max_pixels=100)
    assert Image.MAX_IMAGE_PIXELS == defaults.DEFAULT_MAX_PIXELS  # global restored


# ---------------------------------------------------------------- writing

PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
INDICES = np.arange(64, dtype=np.uint8).reshape(8, 8) % 4


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [(".png", "P"), (".gif", "P"), (".tif", "P"), (".bmp", "P"), (".webp", "RGB"), (".jpg", "RGB")],
)
def test_save_formats(tmp_path, suffix, mode):
    path = tmp_path / f"out{suffix}"
    n = save_quantized(path, PALETTE, INDICES)
    assert n == path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.mode == mode
        assert im.format == format_for(path)
    if suffix != ".jpg":
        np.testing.assert_array_equal(read_rgba(path)[..., :3], PALETTE[INDICES])
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def test_png_palette_with_alpha_keeps_transparency(tmp_path):
    palette = np.array([[0, 0, 0, 0], [255, 0, 0, 255], [0, 0, 255, 128]], np.uint8)
    indices = np.array([[0, 1], [2, 1]], np.uint8)
    for suffix in (".png", ".gif", ".webp", ".tif"):
        path = tmp_path / f"a{suffix}"
        save_quantized(path, palette, indices, transparent_index=0)
        got = read_rgba(path)
        assert got[0, 0, 3] == 0 and got[0, 1].tolist() == [255, 0, 0, 255]
        if suffix != ".gif":
            assert got[1, 0].tolist() == [0, 0, 255, 128]


def test_save_refuses_alpha_in_jpeg_and_too_many_gif_colors(tmp_path):
    with pytest.raises(UsageError, match="transparency"):
        save_quantized(tmp_path / "a.jpg", np.zeros((2, 4), np.uint8), np.zeros((2, 2), np.uint8))
    pal = np.zeros((300, 3), np.uint8)
    with pytest.raises(UsageError, match="at most 256"):
        save_quantized(tmp_path / "a.gif", pal, np.zeros((2, 2), np.uint16))
    with pytest.raises(UsageError, match="suffix"):
        save_quantized(tmp_path / "a.xyz", PALETTE, INDICES)
    assert list(tmp_path.iterdir()) == []


def test_more_than_256_colors_written_as_rgb_png(tmp_path):
    pal = np.random.default_rng(0).integers(0, 256, (300, 3), dtype=np.uint8)
    idx = np.arange(300, dtype=np.uint16).reshape(15, 20)
    path = tmp_path / "big.png"
    save_quantized(path, pal, idx)
    with Image.open(path) as im:
        assert im.mode == "RGB"
    np.testing.assert_array_equal(read_rgba(path)[..., :3], pal[idx])


def test_save_never_overwrites_without_permission(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        save_quantized(path, PALETTE, INDICES)
    assert path.read_bytes() == b"precious"
    save_quantized(path, PALETTE, INDICES, overwrite=True)
    assert path.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_saved_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "perm.png"
        save_quantized(path, PALETTE, INDICES)
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


@pytest.mark.parametrize("photo", [True, False])
def test_few_color_png_is_never_larger_than_pillows_default_and_exact(tmp_path, photo):
    """Up to 16 entries Pillow writes 1/2/4-bit rows with adaptive filters; kquant
    also tries zlib's run-length strategy, and keeps the smaller: on a photo that is
    run-length (measured 0.952x on astronaut.png), on big flat blocks the default."""
    from kquant import quantize

    if photo:
        img = np.asarray(Image.open(SAMPLES / "astronaut.png").convert("RGB"))
    else:
        rng = np.random.default_rng(2)
        img = np.repeat(np.repeat(rng.integers(0, 256, (40, 40, 3), np.uint8), 6, 0), 6, 1)
    q = quantize(img, 16, dither="none")  # dithered, run-length gains less (0.994x)
    out = tmp_path / "q.png"
    save_quantized(out, q.palette, q.indices)
    default = tmp_path / "pillow.png"
    im = Image.fromarray(q.indices, mode="L")
    im.putpalette(q.palette.tobytes())
    im.save(default, compress_level=6)
    assert out.stat().st_size <= default.stat().st_size
    if photo:
        assert out.stat().st_size < 0.97 * default.stat().st_size
    np.testing.assert_array_equal(read_rgba(out)[..., :3], q.to_array())
    with Image.open(out) as written:
        assert written.mode == "P" and written.tile[0].args == "P;4"


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "PA", "CMYK", "YCbCr"])
def test_pixels_are_read_in_strips_exactly(mode, monkeypatch):
    """Strips of a few rows (not whole-image copies) give the pixels Pillow's own
    conversion gives, for every mode that converts to RGB(A)."""
    from kquant.io.images import pixels_from_pil

    monkeypatch.setattr("kquant.io.images._STRIP_PIXELS", 7 * 37)  # 7 rows a strip
    rgba = np.dstack([blocks(61, 37), np.tile(np.arange(37, dtype=np.uint8) * 7, (61, 1))])
    im = Image.fromarray(rgba).convert(mode)
    if mode == "P":
        im.info["transparency"] = 3
    want = np.asarray(im.convert("RGBA" if mode in ("RGBA", "P", "PA") else "RGB"))
    got, _ = pixels_from_pil(im)
    if got.shape[2] == 3 and want.shape[2] == 4:  # opaque alpha dropped
        want = want[..., :3]
    np.testing.assert_array_equal(got, want)


def test_optimize_keeps_pixels_and_metadata_and_is_deterministic(tmp_path):
    src = tmp_path / "in.png"
    Image.open(smaller_sample("china.jpg", tmp_path / "small")).save(src, dpi=(150, 150))
    plain, first, second = tmp_path / "p.png", tmp_path / "a.png", tmp_path / "b.png"
    assert kquant("compress", src, "-k", "64", "-o", plain).returncode == 0
    for out in (first, second):
        ran = kquant("compress", src, "-k", "64", "-O", "2", "-o", out, "--json")
        assert ran.returncode == 0, ran.stderr
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(ran.stdout)["bytes_out"] == second.stat().st_size
    assert second.stat().st_size < plain.stat().st_size
    with Image.open(plain) as a, Image.open(second) as b:
        np.testing.assert_array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))
        assert tuple(round(v) for v in b.info["dpi"]) == (150, 150)


def test_optimize_level_out_of_range_is_refused(tmp_path):
    ran = kquant("compress", SAMPLES / "coffee.png", "-O", "9", "-o", tmp_path / "o.png")
    assert ran.returncode == 2 and "-O/--optimize" in ran.stderr
