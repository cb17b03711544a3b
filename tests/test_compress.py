"""kquant.run.compress: compress_file, the library's file-to-file call."""

from __future__ import annotations

import dataclasses

from helpers import blocks
from PIL import Image

from kquant import Stage, StageSeconds, compress_file
from kquant.stages import STAGES


def test_stages_are_announced_in_order(tmp_path):
    src = tmp_path / "x.png"
    Image.fromarray(blocks(16, 16)).save(src)
    seen: list[Stage] = []
    compress_file(src, tmp_path / "o.png", k=3, metrics=("ssim",), progress=seen.append)
    assert seen == list(STAGES)
    assert [f.name for f in dataclasses.fields(StageSeconds)] == [s.value for s in STAGES] + [
        "total"
    ]
