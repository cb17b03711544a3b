"""kquant palette and compress --palette: listing, export, import, swatches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import kquant, read_rgba, smaller_sample
from PIL import Image

from kquant.errors import UsageError
from kquant.io.palettes import (
    SWATCH_MIN_TILE,
    SWATCH_ROW,
    SWATCH_WIDTH,
    draw_swatch,
    read_palette,
    swatch_tiles,
    to_hex,
)


@pytest.mark.parametrize("suffix", [".gpl", ".json", ".txt"])
def test_export_then_import_round_trips(tmp_path, suffix):
    exported = tmp_path / f"pal{suffix}"
    coffee = smaller_sample("coffee.png", tmp_path)
    proc = kquant("palette", coffee, "-k", "8", "--json", "--export", exported)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 8
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert [r["share"] for r in rows] == sorted((r["share"] for r in rows), reverse=True)
    listed = np.array([r["rgb"] for r in rows], np.uint8)
    np.testing.assert_array_equal(read_palette(exported), listed)
    # mapping onto the imported palette gives what compress -k 8 gives
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert kquant("compress", coffee, "-k", "8", "-o", a).returncode == 0
    proc = kquant("compress", coffee, "--palette", exported, "-o", b, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["method"] == "palette"
    np.testing.assert_array_equal(read_rgba(a), read_rgba(b))


def test_palette_from_an_image_and_swatch(tmp_path):
    src = tmp_path / "four.png"
    rgb = np.zeros((10, 40, 3), np.uint8)
    rgb[:, 10:20], rgb[:, 20:30], rgb[:, 30:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    Image.fromarray(rgb).save(src)
    assert sorted(read_palette(src).tolist()) == [[0, 0, 0], [0, 0, 255], [0, 255, 0], [255, 0, 0]]
    swatch = tmp_path / "sw.png"
    proc = kquant("palette", src, "-k", "4", "--swatch", swatch)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[-1] for line in proc.stdout.splitlines()] == ["25.00%"] * 4
    with Image.open(swatch) as im:
        assert im.size == (SWATCH_WIDTH, SWATCH_ROW)  # four tiles of 25% fit one row
        drawn = np.asarray(im.convert("RGB"))
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    for i, hex_code in enumerate(listed):  # tile i: its color, and a label on it
        tile = drawn[:, i * SWATCH_WIDTH // 4 : (i + 1) * SWATCH_WIDTH // 4]
        colors, counts = np.unique(tile.reshape(-1, 3), axis=0, return_counts=True)
        assert to_hex(colors[np.argmax(counts)]) == hex_code
        assert len(colors) > 2  # the anti-aliased text of "#rrggbb" and "25.0%"


def test_swatch_tiles_are_never_too_narrow_and_wrap():
    shares = np.array([0.6] + [0.4 / 39] * 39)
    tiles = swatch_tiles(shares)
    assert tiles[0] == (0, 0, round(0.6 * SWATCH_WIDTH))  # sized by its share
    assert min(w for _, _, w in tiles) == SWATCH_MIN_TILE  # the small ones at the minimum
    rows = max(r for r, _, _ in tiles) + 1
    assert all(x + w <= SWATCH_WIDTH for _, x, w in tiles) and rows > 1
    picture = draw_swatch(np.zeros((40, 3), np.uint8), shares)
    assert picture.size == (SWATCH_WIDTH, rows * SWATCH_ROW)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("p.txt", "#ff0000\nnot-a-color\n", "p.txt:2"),
        ("p.gpl", "GIMP Palette\nName: x\n255 0 0 red\n12 300 4 bad\n", "p.gpl:4"),
        ("p.gpl", "JASC-PAL\n", "p.gpl:1"),
        ("p.json", '{"colors": ["#00ff00", 42]}', "color 2"),
        ("p.json", "{oops", "p.json:1"),
    ],
)
def test_malformed_palettes_name_the_line(tmp_path, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError, match=where):
        read_palette(path)
    src = tmp_path / "img.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(src)
    proc = kquant("compress", src, "--palette", path, "-o", tmp_path / "o.png")
    assert proc.returncode == 2 and where in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()
