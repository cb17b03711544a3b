"""kquant.settings: one settings object, every rule checked when it is built, with
the same message from the library and the command line."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from helpers import blocks, kquant
from PIL import Image

from kquant import CompressSettings, FitOptions, compress_file
from kquant.errors import UsageError


def test_fit_options_reject_bad_values():
    with pytest.raises(ValueError, match="unknown method"):
        FitOptions(method="octree")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_init"):
        FitOptions(n_init=0)
    with pytest.raises(ValueError, match="unknown init"):
        FitOptions(init="kmeans||")


@pytest.mark.parametrize(
    "changes, params",
    [
        ({"palette": [(0, 0, 0), (255, 255, 255)], "target_psnr": 30}, ("palette",)),
        ({"palette": [(0, 0, 0)], "max_mse": 10}, ("palette",)),
        ({"target_psnr": 30, "max_mse": 10}, ("target_psnr", "max_mse")),
        ({"k": 0}, ("k",)),
        ({"metrics": ("ssim", "psnr")}, ("metrics",)),
        ({"target_psnr": float("nan")}, ("target_psnr",)),
        ({"dither_strength": 1.5}, ("dither_strength",)),
        ({"seed": -1}, ("seed",)),
    ],
    ids=["palette-psnr", "palette-mse", "both-targets", "k0", "metric", "nan", "strength", "seed"],
)
def test_library_and_command_line_refuse_the_same_way(tmp_path, changes, params):
    src = tmp_path / "x.png"
    Image.fromarray(blocks(8, 8)).save(src)
    with pytest.raises(UsageError) as info:
        compress_file(src, tmp_path / "out.png", **changes)
    assert info.value.params == params
    palette = tmp_path / "p.txt"
    palette.write_text(
        "\n".join(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in changes.get("palette", []))
    )
    args = {
        "palette": ["--palette", palette],
        "target_psnr": ["--target-psnr", str(changes.get("target_psnr"))],
        "max_mse": ["--max-mse", str(changes.get("max_mse"))],
        "k": ["-k", str(changes.get("k"))],
        "metrics": ["--metrics", ",".join(changes.get("metrics", ()))],
        "dither_strength": ["--dither-strength", str(changes.get("dither_strength"))],
        "seed": ["--seed", str(changes.get("seed"))],
    }
    ran = kquant("compress", src, "-o", tmp_path / "out.png",
                 *[a for name in changes for a in args[name]])  # fmt: skip
    assert ran.returncode == 2
    assert str(info.value) in ran.stderr and ran.stderr.count("\n") == 1
    assert not (tmp_path / "out.png").exists()


def test_settings_travel_whole_and_unchanged():
    settings = CompressSettings(
        k=12,
        fit=FitOptions(seed=4, space="lab"),
        dither="floyd-steinberg",
        metrics=("ssim", "ssim"),
        palette=np.array([[1, 2, 3]]),
    )
    assert settings.metrics == ("ssim",) and settings.palette == ((1, 2, 3),)
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert settings.replace(seed=5).fit == FitOptions(seed=5, space="lab")
    with pytest.raises(TypeError):
        settings.replace(colours=3)  # a misspelt setting fails at once
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.k = 3  # type: ignore[misc]
