"""Palettes shared across images and colors kept exactly (issue 15)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import SAMPLES, blocks, kquant
from PIL import Image

from kquant.io.palettes import read_palette


def png_palette(path) -> list[list[int]]:
    with Image.open(path) as im:
        assert im.mode == "P"
        return np.array(im.getpalette()).reshape(-1, 3).tolist()


@pytest.fixture
def three(tmp_path):
    """Three images of different sizes and colors (flat blocks plus noise)."""
    folder = tmp_path / "set"
    folder.mkdir()
    for seed, size in ((0, 48), (1, 32), (2, 16)):
        Image.fromarray(blocks(size, size, seed=seed)).save(folder / f"img{seed}.png")
    return folder


def test_shared_palette_equals_the_exported_one_and_every_output_holds_it(three, tmp_path):
    out = tmp_path / "out"
    ran = kquant("compress", "-j", "1", three, "-k", "12", "-o", out, "--shared-palette")
    assert ran.returncode == 0, ran.stderr
    images = sorted(three.iterdir())
    exported = tmp_path / "exported.gpl"
    assert kquant("palette", *images, "-k", "12", "--export", exported).returncode == 0
    shared = read_palette(out / "palette-k12.gpl")
    assert shared.tolist() == read_palette(exported).tolist() and len(shared) == 12
    for image in images:  # the same palette, whole and in order: indices mean the same
        written = out / f"{image.stem}-k12.png"
        assert png_palette(written)[: len(shared)] == shared.tolist()
    assert "shared palette of 12 colors over 3 images" in ran.stderr
    again = tmp_path / "again"  # the same command, the same bytes
    assert (
        kquant("compress", "-j", "1", three, "-k", "12", "-o", again, "--shared-palette").returncode
        == 0
    )
    assert [p.read_bytes() for p in sorted(out.iterdir())] == [
        p.read_bytes() for p in sorted(again.iterdir())
    ]


def test_shared_palette_is_deterministic_and_weights_change_it(three, tmp_path):
    def fit(*extra):
        ran = kquant("palette", *sorted(three.iterdir()), "-k", "6", "--json", *extra)
        assert ran.returncode == 0, ran.stderr
        return [json.loads(line)["hex"] for line in ran.stdout.splitlines()]

    assert fit() == fit()
    assert fit("--weight", "equal") != fit()  # the 16x16 image counts as much as the 48x48


def test_shared_palette_skips_a_broken_image_and_reports_it(three, tmp_path):
    (three / "broken.png").write_bytes(b"not a png")
    ran = kquant(
        "compress", "-j", "1", three, "-k", "8", "-o", tmp_path / "out", "--shared-palette"
    )
    assert ran.returncode == 1 and "broken.png" in ran.stderr
    assert "over 3 images" in ran.stderr
    assert len(list((tmp_path / "out").glob("*-k8.png"))) == 3


def test_shared_palette_with_transparency_keeps_the_shared_indices(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    Image.fromarray(blocks(16, 16)).save(folder / "opaque.png")
    rgba = np.dstack([blocks(16, 16, seed=1), np.full((16, 16), 255, np.uint8)])
    rgba[:4, :, 3] = 0
    Image.fromarray(rgba).save(folder / "holes.png")
    out = tmp_path / "out"
    assert (
        kquant("compress", "-j", "1", folder, "-k", "256", "-o", out, "--shared-palette").returncode
        == 0
    )
    shared = read_palette(out / "palette-k256.gpl").tolist()
    assert len(shared) <= 255  # room for the transparent entry after them
    assert png_palette(out / "opaque-k256.png") == shared
    with Image.open(out / "holes-k256.png") as im:
        assert np.array(im.getpalette()).reshape(-1, 3).tolist()[: len(shared)] == shared
        assert im.info["transparency"] == len(shared)  # the transparent entry comes last


KEEP = [(255, 0, 0), (0, 0, 0), (255, 255, 255)]


def test_kept_colors_are_exact_and_their_pixels_unchanged(tmp_path):
    img = blocks(32, 32)
    img[:4, :4] = (255, 0, 0)  # pixels of a kept color
    img[4:8, :4] = (0, 0, 0)
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    (tmp_path / "white.txt").write_text("#ffffff\n")
    out = tmp_path / "out.png"
    ran = kquant("compress", src, "-k", "8", "-o", out, "--keep-color", "#ff0000",
                 "--keep-color", "000000", "--keep-color", tmp_path / "white.txt")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    palette = png_palette(out)
    assert all(list(c) in palette for c in KEEP)  # white is kept though no pixel has it
    assert len(palette) <= 8
    with Image.open(out) as im:
        written = np.asarray(im.convert("RGB"))
    assert (written[:4, :4] == (255, 0, 0)).all() and (written[4:8, :4] == 0).all()
    assert "3 colors kept exactly" in ran.stderr


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_kept_colors_in_the_library_and_the_fit_around_them(space):
    import kquant

    img = np.asarray(Image.open(SAMPLES / "china.jpg"))[::2, ::2]
    plain = kquant.quantize(img, 16, space=space)
    kept = kquant.quantize(img, 16, space=space, keep=np.array(KEEP, np.uint8))
    assert all(list(c) in kept.palette.tolist() for c in KEEP)
    assert kept.colors_out <= 16
    # three colors pinned cost little: the other 13 are fitted around them
    assert kept.distortion.mse < 1.5 * plain.distortion.mse


def test_kept_colors_in_a_shared_palette(three, tmp_path):
    ran = kquant("palette", *sorted(three.iterdir()), "-k", "6", "--keep-color", "#123456",
                 "--json")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "#123456" in [json.loads(line)["hex"] for line in ran.stdout.splitlines()]


def test_a_resumed_shared_run_maps_onto_the_palette_it_wrote(tmp_path):
    """--skip-existing with the palette file there (issue 21): the palette is read
    back, not fitted again, so an output made by the resumed run is the one the first
    run would have written, byte for byte."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(blocks(32, 32, seed=i, noise=30)).save(src / f"{i}.png")
    out = tmp_path / "out"
    first = kquant("compress", "-j", "1", src, "-k", "8", "-o", out, "--shared-palette", "-q")
    assert first.returncode == 0, first.stderr
    written = (out / "2-k8.png").read_bytes()
    palette = (out / "palette-k8.gpl").read_bytes()
    (out / "2-k8.png").unlink()
    (src / "3.png").write_bytes((src / "0.png").read_bytes())  # the set grew meanwhile
    again = kquant(
        "compress", "-j", "1", src, "-k", "8", "-o", out, "--shared-palette", "--skip-existing"
    )
    assert again.returncode == 0, again.stderr
    assert "read from" in again.stderr and "2 ok, 2 skipped" in again.stderr
    assert (out / "2-k8.png").read_bytes() == written
    assert (out / "palette-k8.gpl").read_bytes() == palette


def test_an_unreadable_image_is_said_before_a_bad_kept_color(three, tmp_path):
    """The library's shared_palette reads the images before it takes the kept colors:
    a missing image is the error, not the kept color out of the uint8 range."""
    import kquant

    images = [*sorted(three.iterdir()), tmp_path / "missing.png"]
    with pytest.raises(kquant.ImageReadError, match=r"missing\.png: no such file"):
        kquant.shared_palette(images, 4, keep=[[300, 0, 0]])
    with pytest.raises(kquant.ImageReadError, match="no image of the set could be read"):
        kquant.shared_palette(images[-1:], 4, keep=[[300, 0, 0]], skip_errors=True)
