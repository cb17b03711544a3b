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


def _mse(pixels: np.ndarray, palette: np.ndarray, index: np.ndarray) -> float:
    return float(_errors(pixels, palette, index).mean() / 3)


def test_the_sampled_increase_is_exact_on_the_rows_it_samples():
    """A row's runs depend on that row alone: the estimate a quality target's search
    uses is the runs' exact increase of the error on every n-th row."""
    from kquant.core.runs import sampled_increase

    pixels, palette = _noisy_gray(3)
    pixels = np.tile(pixels, (4, 2, 1))  # (24, 80): no two rows alike within a tile
    nearest = np.abs(pixels[..., 0].astype(int)[..., None] - palette[:, 0]).argmin(axis=2)
    nearest = nearest.astype(np.uint8)
    before = nearest.copy()
    runs = continue_runs(pixels, palette, nearest.copy(), 48.0)
    assert _mse(pixels, palette, runs) > _mse(pixels, palette, nearest)
    for every in (1, 5):
        rows = slice(None, None, every)
        exact = _mse(pixels[rows], palette, runs[rows]) - _mse(pixels[rows], palette, nearest[rows])
        got = sampled_increase(pixels, palette, nearest, 48.0, every=every)
        assert got == pytest.approx(exact, rel=1e-12)
    np.testing.assert_array_equal(nearest, before)  # the caller's indices stay


def test_a_target_search_whose_estimate_misjudges_the_runs_still_meets_the_target(
    monkeypatch,
):
    """The search estimates the runs' cost on a sample of rows and checks only the k
    it finds. With an estimate that calls the runs free, that k misses once drawn
    with its runs: the search must go on above it, to a result that meets the
    target as measured."""
    import kquant.core.quantizer as quantizer
    import kquant.core.runs as runs

    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:40, 0:96]
    base = np.dstack([40 + 2 * x, 60 + 3 * y, 200 - x - y]).astype(int)
    pixels = np.clip(base + rng.integers(-5, 6, base.shape), 0, 255).astype(np.uint8)
    monkeypatch.setattr(runs, "sampled_increase", lambda *args, **kwargs: 0.0)
    drawn = []
    real = quantizer._Estimates.drawn

    def spy(self, k, q):
        out = real(self, k, q)
        drawn.append((k, out.distortion.psnr))
        return out

    monkeypatch.setattr(quantizer._Estimates, "drawn", spy)
    target = 34.0
    k, got, met = quantizer.quantize_to_target(pixels, 256, target_psnr=target, dither="none",
                                               space="rgb", run_budget=48.0)  # fmt: skip
    assert met and got.distortion.psnr >= target and k < 256
    assert len(drawn) >= 2 and drawn[0][1] < target  # the first k found missed
    assert drawn[-1][0] == k and drawn[0][0] < k
    measured = 10 * np.log10(255**2 / _mse(pixels, got.palette, got.indices))
    assert measured == pytest.approx(got.distortion.psnr, abs=1e-9)
    # its indices are its palette's nearest rows with the runs continued
    plain = quantize(pixels, palette=got.palette, whole_palette=True, dither="none", space="rgb")
    again = continue_runs(pixels, got.palette, plain.indices.copy(), 48.0)
    np.testing.assert_array_equal(got.indices, again)


def test_an_undithered_quality_target_continues_runs_unless_told_not_to(tmp_path):
    """Runs are the default of an undithered quality target (the search keeps the
    target on the written file), off with ``--no-rate-aware``; a ``-k`` run and a
    dithered target stay without them, with no note."""
    import json

    from helpers import SAMPLES, kquant
    from PIL import Image

    from kquant.defaults import RUN_BUDGET
    from kquant.settings import CompressSettings

    src = tmp_path / "coffee.png"
    Image.open(SAMPLES / "coffee.png").crop((200, 120, 360, 240)).save(src)
    target = ["--target-psnr", "30", "--dither", "none", "--json"]
    auto = json.loads(kquant("compress", src, *target).stdout)
    off = json.loads(kquant("compress", src, *target, "--no-rate-aware").stdout)
    assert auto["output"].endswith("-nodither-runs.png") and "runs" not in off["output"]
    assert any(n.startswith("rate-aware: runs continued") for n in auto["notes"])
    assert not any("rate-aware" in n for n in off["notes"])
    assert auto["psnr"] >= 30 and off["psnr"] >= 30 and auto["bytes_out"] < off["bytes_out"]
    for args in (["-k", "8", "--dither", "none"], ["--target-psnr", "30"]):
        row = json.loads(kquant("compress", src, *args, "--json", "-f").stdout)
        assert "runs" not in row["output"] and not any("rate-aware" in n for n in row["notes"])
    assert CompressSettings(target_psnr=30, dither="none").runs == RUN_BUDGET
    assert CompressSettings(target_psnr=30).runs == CompressSettings(dither="none").runs == 0
    assert CompressSettings(target_psnr=30, dither="none", run_budget=0).runs == 0
