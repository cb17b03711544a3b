"""Rate-aware remapping (issue 26): runs of indices continued within a budget."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from kquant import quantize
from kquant.core.runs import continue_runs
from kquant.errors import UsageError


def _noisy_gray(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (6, 40) gray 100 +- 3 image and a palette of grays 98 and 102: the nearest
    row flickers from pixel to pixel."""
    rng = np.random.default_rng(seed)
    gray = 100 + rng.integers(-3, 4, (6, 40))
    pixels = np.repeat(gray[..., None], 3, axis=2).astype(np.uint8)
    return pixels, np.array([[98] * 3, [102] * 3], dtype=np.uint8)


def _errors(pixels: np.ndarray, palette: np.ndarray, index: np.ndarray) -> np.ndarray:
    diff = pixels.astype(np.int64) - palette[index].astype(np.int64)
    return (diff * diff).sum(axis=2)


@pytest.mark.parametrize("budget", [0.0, 12.0, 72.0])
def test_a_pixel_takes_its_left_neighbours_row_only_within_the_budget(budget):
    pixels, palette = _noisy_gray()
    nearest = np.abs(pixels[..., 0].astype(int)[..., None] - palette[:, 0]).argmin(axis=2)
    nearest = nearest.astype(np.uint8)
    got = continue_runs(pixels, palette, nearest.copy(), budget)
    changed = got != nearest
    extra = _errors(pixels, palette, got) - _errors(pixels, palette, nearest)
    assert (extra[changed] <= budget).all() and (extra[~changed] == 0).all()
    left = np.zeros_like(changed)
    left[:, 1:] = got[:, 1:] == got[:, :-1]
    assert left[changed].all()  # every change continues the run on its left
    assert not changed[:, 0].any()
    # gray 100 is 12 from either row (a budget of 12 continues ties), 97 and 103 are 72
    # further from the far row than from the near one (72 continues everything)
    runs = int((got[:, 1:] != got[:, :-1]).sum())
    plain = int((nearest[:, 1:] != nearest[:, :-1]).sum())
    assert runs == 0 if budget == 72.0 else runs < plain if budget == 12.0 else runs <= plain


def test_quantize_with_a_run_budget_writes_fewer_bytes_and_reports_its_true_error():
    pixels, _ = _noisy_gray(1)
    pixels = np.tile(pixels, (8, 4, 1))
    plain = quantize(pixels, 2, dither="none", seed=0)
    runs = quantize(pixels, 2, dither="none", seed=0, run_budget=48.0)
    assert plain.palette.tolist() == runs.palette.tolist()

    def png(q) -> int:
        buf = io.BytesIO()
        q.to_image().save(buf, "PNG")
        return len(buf.getvalue())

    assert png(runs) < png(plain)
    written = runs.to_array().astype(np.int64)
    mse = float(((written - pixels) ** 2).mean())
    assert runs.distortion.mse == pytest.approx(mse, rel=1e-12)
    assert runs.distortion.mse > plain.distortion.mse


REFUSED = [
    ({"run_budget": -1.0, "dither": "none"}, "finite number >= 0"),
    ({"run_budget": 48.0}, "undithered mapping"),
]


@pytest.mark.parametrize("kwargs, message", REFUSED)
def test_a_run_budget_is_refused_when_it_cannot_apply(kwargs, message):
    pixels, _ = _noisy_gray()
    with pytest.raises(UsageError, match=message):
        quantize(pixels, 2, **kwargs)


def test_compress_rate_aware_writes_a_smaller_png_named_and_noted(tmp_path):
    """``--rate-aware`` (with ``--dither none``): a smaller file than the plain
    mapping of the same palette, its own default name (``-runs``), the note in the
    report, and the reported PSNR that of the written file; an animation is left
    as it is, with a note."""
    import json

    from helpers import blocks, kquant, read_rgba
    from PIL import Image

    src = tmp_path / "blocks.png"
    Image.fromarray(np.repeat(np.repeat(blocks(48, 48, noise=9), 2, 0), 2, 1)).save(src)
    plain = kquant("compress", src, "-k", "8", "--dither", "none", "--json")
    runs = kquant("compress", src, "-k", "8", "--dither", "none", "--rate-aware", "--json")
    assert plain.returncode == runs.returncode == 0, runs.stderr
    p, r = json.loads(plain.stdout), json.loads(runs.stdout)
    assert r["output"].endswith("blocks-k8-nodither-runs.png") and r["output"] != p["output"]
    assert r["bytes_out"] < p["bytes_out"]
    assert any(n.startswith("rate-aware: runs continued") for n in r["notes"])
    written = read_rgba(Path(r["output"]))[..., :3].astype(np.int64)
    original = np.asarray(Image.open(src).convert("RGB")).astype(np.int64)
    mse = float(((written - original) ** 2).mean())
    assert r["psnr"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-6)
    frames = [Image.fromarray(blocks(16, 16, seed=i)) for i in range(2)]
    anim = tmp_path / "a.gif"
    frames[0].save(anim, save_all=True, append_images=frames[1:], duration=50)
    ran = kquant("compress", anim, "-k", "8", "--dither", "none", "--rate-aware", "--json")
    assert ran.returncode == 0
    assert "--rate-aware not applied: stills only" in json.loads(ran.stdout)["notes"]


def test_a_target_the_runs_keep_out_of_reach_is_searched_without_them():
    """With a quality target, the runs' extra error must not make a reachable target
    unreachable: where even ``max_k`` with runs misses it, the search is made without
    them (and the result is the plain mapping's)."""
    from kquant import quantize_to_target

    pixels, _ = _noisy_gray(2)
    pixels = np.tile(pixels, (4, 2, 1))
    plain = quantize(pixels, 2, dither="none", seed=0)
    runs = quantize(pixels, 2, dither="none", seed=0, run_budget=72.0)
    assert runs.distortion.psnr < plain.distortion.psnr
    target = (runs.distortion.psnr + plain.distortion.psnr) / 2
    k, got, met = quantize_to_target(pixels, 2, target_psnr=target, dither="none", seed=0,
                                     run_budget=72.0)  # fmt: skip
    assert (k, met) == (2, True)
    np.testing.assert_array_equal(got.indices, plain.indices)
