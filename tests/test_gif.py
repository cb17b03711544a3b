"""kquant.io.gif and GIF animations: every frame's extent read from the blocks, frames
beyond the logical screen kept on one canvas."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import kquant
from PIL import Image
from test_faults import gif_bytes, odd_files

from kquant.io.animation import gif_extent


def test_a_gifs_extent_holds_every_frame(tmp_path):
    odd_files(tmp_path)
    assert gif_extent(tmp_path / "beyond.gif") == (20, 20)
    assert gif_extent(tmp_path / "extent-bomb.gif") == (65535, 65535)
    with open(tmp_path / "beyond.gif", "rb") as fh:  # a file object: its position kept
        fh.seek(7)
        assert gif_extent(fh) == (20, 20) and fh.tell() == 7


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_frames_beyond_the_screen_are_all_kept(tmp_path, suffix):
    colors = [(255, 0, 0), (0, 0, 255), (0, 200, 0)]
    frames = [Image.new("RGB", (20, 20), c) for c in colors]
    (tmp_path / "beyond.gif").write_bytes(gif_bytes(frames, screen=(10, 10)))
    out = tmp_path / f"o{suffix}"
    ran = kquant("compress", tmp_path / "beyond.gif", "-k", "4", "-o", out, "--json")
    assert ran.returncode == 0, ran.stderr
    assert "folded" not in ran.stderr and "libwebp" not in ran.stderr
    with Image.open(out) as im:
        assert im.size == (20, 20) and im.n_frames == 3
        for i, color in enumerate(colors):
            im.seek(i)
            rgba = np.asarray(im.convert("RGBA"))
            assert (rgba[..., :3] == color).all(), (i, np.unique(rgba.reshape(-1, 4), axis=0))


def test_two_gifs_joined_are_read_as_pillow_reads_them(tmp_path):
    """Pillow skips the bytes between blocks (a second GIF header after a first GIF
    without its trailer, as in Pillow's test_extents_transparency.gif); the frames'
    extent is read the same way, so the frames beyond the first screen are kept."""
    import struct

    first = gif_bytes([Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))])
    second = bytearray(gif_bytes([Image.new("RGB", (20, 20), c)
                                  for c in ((0, 200, 0), (200, 200, 0))]))  # fmt: skip
    at = second.index(b"\x2c")  # its first frame moved to (10, 10): the extent is 30x30
    second[at + 1 : at + 5] = struct.pack("<2H", 10, 10)
    (tmp_path / "joined.gif").write_bytes(first[:-1] + bytes(second))  # no trailer between
    assert gif_extent(tmp_path / "joined.gif") == (30, 30)
    ran = kquant("compress", tmp_path / "joined.gif", "-k", "4", "-o", tmp_path / "o.gif")
    assert ran.returncode == 0, ran.stderr
    with Image.open(tmp_path / "o.gif") as im:
        assert im.size == (30, 30) and im.n_frames == 4
