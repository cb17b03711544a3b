"""The command line, in process (``kquant()``) and, where the process matters, as real
subprocesses of ``kquant`` (``run_kquant``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import blocks, kquant, kquant_exe, mse_rgb, read_rgba, run_kquant
from PIL import Image

import kquant as kq
from kquant.cli import cli
from kquant.io.images import format_for

REPORT_KEYS = {
    "input", "output", "method", "k", "seed", "width", "height", "colors_in", "colors_out",
    "mse", "psnr", "max_error", "bytes_in", "bytes_out", "seconds",
}  # fmt: skip


def invoke(*args: str | Path) -> tuple[int, str, str]:
    ran = kquant(*args)
    return ran.returncode, ran.stdout, ran.stderr


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))


@pytest.mark.parametrize("path", [(), *[p for p, _ in _commands(cli)]], ids=str)
def test_every_command_has_help_ending_with_examples(path):
    code, out, _ = invoke(*path, "--help")
    assert code == 0
    assert "Examples:" in out
    last = out.rstrip().splitlines()[-1].strip()  # an example, or where the rest is
    assert last.startswith("kquant ") or last.endswith(f"kquant {' '.join(path)} --help-all")


def test_version():
    code, out, _ = invoke("--version")
    assert code == 0 and kq.__version__ in out
    proc = subprocess.run(
        [sys.executable, "-m", "kquant", "--version"], capture_output=True, text=True, check=True
    )
    assert kq.__version__ in proc.stdout


def test_compress_default_output_and_report(blocks_png):
    code, out, err = invoke("compress", blocks_png, "-k", "4", "--json")
    assert code == 0, err
    expected = blocks_png.with_name("blocks-k4.png")
    report = json.loads(out)
    assert report["output"] == str(expected)
    assert report.keys() >= REPORT_KEYS
    assert set(report["seconds"]) == {"load", "fit", "map", "save", "metrics", "total"}
    assert report["seconds"]["metrics"] is None  # no --metrics: not measured
    assert report["k"] == 4 and report["colors_out"] == 4 and report["method"] == "kmeans"
    assert report["bytes_out"] == expected.stat().st_size
    with Image.open(expected) as im:
        assert im.mode == "P" and len(im.getcolors()) == 4
    # the report's MSE is the MSE of the written file
    original = np.asarray(Image.open(blocks_png).convert("RGB"))
    assert report["mse"] == pytest.approx(mse_rgb(original, read_rgba(expected)), rel=1e-12)
    assert report["psnr"] == pytest.approx(10 * np.log10(255**2 / report["mse"]))
    # human summary on stderr, not stdout
    assert "PSNR" in err and "blocks-k4.png" in err


def test_quiet_prints_nothing(blocks_png, tmp_path):
    code, out, err = invoke("compress", blocks_png, "-k", "4", "-q", "-o", tmp_path / "q.png")
    assert code == 0 and out == "" and err == ""


@pytest.mark.parametrize("method", ["kmeans", "minibatch", "random"])
def test_methods_and_seed_give_identical_bytes(blocks_png, tmp_path, method):
    outs = []
    for i in range(2):
        out = tmp_path / f"{method}{i}.png"
        code, _, err = invoke("compress", blocks_png, "-k", "3", "--method", method, "-o", out)
        assert code == 0, err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_same_command_same_bytes_in_subprocesses(tmp_path):
    src = tmp_path / "noisy.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)).save(src)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for out in (a, b):
        proc = run_kquant("compress", src, "-k", "32", "--sample", "3000", "-o", out)
        assert proc.returncode == 0, proc.stderr
    assert a.read_bytes() == b.read_bytes()
    proc = run_kquant("compress", src, "-k", "32", "--sample", "3000", "--seed", "1", "-o",
                      tmp_path / "c.png")  # fmt: skip
    assert proc.returncode == 0 and (tmp_path / "c.png").read_bytes() != a.read_bytes()


def test_k_above_distinct_colors_is_exact_and_said(tmp_path):
    src = tmp_path / "flat.png"
    Image.fromarray(blocks(noise=0)).save(src)
    code, out, err = invoke("compress", src, "-k", "64", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["colors_out"] == 4 and report["mse"] == 0 and report["psnr"] is None
    assert any("reproduced exactly" in n for n in report["notes"])
    assert "lossless" in err and "Warning" not in err


def _write_mode(tmp_path: Path, mode: str, suffix: str) -> Path:
    rgb = Image.fromarray(blocks(48, 40))
    if mode == "I;16":
        im = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
    elif mode == "RGBA":
        a = np.full((48, 40), 255, np.uint8)
        a[:10] = 0
        im = Image.fromarray(np.dstack([np.asarray(rgb), a]))
    elif mode == "LA":
        im = rgb.convert("LA")
        im.putalpha(Image.fromarray(np.where(np.arange(40) < 8, 0, 255).astype(np.uint8)[None]
                                    .repeat(48, 0)))  # fmt: skip
    elif mode == "P":
        im = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    else:
        im = rgb.convert(mode)
    path = tmp_path / f"in-{mode.replace(';', '')}{suffix}"
    im.save(path)
    return path


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [
        ("1", ".png"), ("L", ".png"), ("LA", ".png"), ("P", ".png"), ("RGB", ".png"),
        ("RGBA", ".png"), ("I;16", ".png"), ("CMYK", ".jpg"), ("RGB", ".jpg"), ("L", ".jpg"),
        ("RGB", ".webp"), ("RGBA", ".webp"), ("P", ".gif"), ("RGB", ".tif"), ("CMYK", ".tif"),
        ("RGB", ".bmp"),
    ],
)  # fmt: skip
def test_every_input_mode_and_format(tmp_path, mode, suffix):
    src = _write_mode(tmp_path, mode, suffix)
    out = tmp_path / "out.png"
    code, stdout, err = invoke("compress", src, "-k", "6", "-o", out, "--json")
    assert code == 0, err
    report = json.loads(stdout)
    loaded = kq.load_image(src)
    written = read_rgba(out)
    with Image.open(out) as im:
        assert im.mode == "P"
    assert report["colors_out"] <= 6
    visible = loaded.pixels[..., 3] > 0 if loaded.has_alpha else None
    assert report["mse"] == pytest.approx(mse_rgb(loaded.pixels, written, visible), rel=1e-12)
    if loaded.has_alpha:  # transparent pixels stay transparent
        np.testing.assert_array_equal(written[..., 3] == 0, loaded.pixels[..., 3] == 0)
    if mode in ("1", "L", "LA", "I;16"):  # gray stays gray
        assert report["grayscale"]
        assert np.array_equal(written[..., 0], written[..., 1])
        assert np.array_equal(written[..., 1], written[..., 2])


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".tif", ".bmp", ".jpg"])
def test_output_formats_report_what_was_written(blocks_png, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    code, stdout, err = invoke("compress", blocks_png, "-k", "4", "-o", out, "--json")
    assert code == 0, err
    report = json.loads(stdout)
    with Image.open(out) as im:
        assert im.format == format_for(out)
        assert im.mode == ("RGB" if suffix in (".webp", ".jpg") else "P")
    original = np.asarray(Image.open(blocks_png).convert("RGB"))
    assert report["mse"] == pytest.approx(mse_rgb(original, read_rgba(out)), rel=1e-12)
    if suffix == ".jpg":
        assert any("lossy" in n for n in report["notes"])


def test_animated_gif_is_quantized_whole_or_first_frame_when_asked(tmp_path):
    frames = [Image.fromarray(blocks(16, 16, seed=s)) for s in range(3)]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:])
    code, out, err = invoke("compress", src, "-k", "4", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["frames"] == report["frames_out"] == 3 and "animation of 3 frames" in err
    with Image.open(tmp_path / "anim-k4.png") as im:
        assert im.n_frames == 3
    code, out, err = invoke("compress", src, "-k", "4", "--json", "--first-frame", "-o",
                            tmp_path / "first.png")  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["frames"] == 3 and report["frames_out"] == 1
    assert any("first of 3 frames" in n for n in report["notes"])
    assert "first of 3 frames" in err


def test_existing_output_is_not_overwritten_without_force(blocks_png, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    code, _, err = invoke("compress", blocks_png, "-k", "4", "-o", out)
    assert code == 1 and "already exists" in err and "--force" in err
    assert out.read_bytes() == b"keep me"
    code, _, _ = invoke("compress", blocks_png, "-k", "4", "-o", out, "--force")
    assert code == 0 and out.read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------ bad input: see test_faults.CASES


def test_a_missing_output_folder_is_made(blocks_png, tmp_path):
    """Issue 23: -o in folders that do not exist yet makes them (a blocked or
    unwritable folder is in the fault table)."""
    out = tmp_path / "no" / "such" / "dir" / "x.png"
    proc = kquant("compress", blocks_png, "-k", "4", "-o", out)
    assert proc.returncode == 0 and out.is_file()


def test_ctrl_c_leaves_no_partial_output(tmp_path):
    src = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(src)
    out = tmp_path / "out.png"
    # a long fit: every one of ~490k distinct colors, 256 clusters, many restarts
    proc = subprocess.Popen(
        [kquant_exe(), "compress", str(src), "-k", "256", "--sample", "all", "--n-init", "50",
         "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["kquant: interrupted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_help_and_version_import_no_numpy_or_sklearn():
    code = (
        "import sys; from click.testing import CliRunner; from kquant.cli import cli; "
        "r = CliRunner().invoke(cli, ['compress', '--help']); assert r.exit_code == 0; "
        "r = CliRunner().invoke(cli, ['--version']); assert r.exit_code == 0; "
        "print(sorted(m for m in ('numpy', 'PIL', 'sklearn', 'scipy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_target_psnr_in_compress_and_exit_code_3(tmp_path):
    six = np.array([[10, 20, 30], [200, 10, 10], [10, 200, 10], [10, 10, 200],
                    [250, 250, 0], [0, 250, 250]], np.uint8)  # fmt: skip
    src = tmp_path / "six.png"
    Image.fromarray(six[np.random.default_rng(0).integers(0, 6, (30, 30))]).save(src)
    code, out, err = invoke("compress", src, "--target-psnr", "80", "-o", tmp_path / "a.png",
                            "--json")  # fmt: skip
    report = json.loads(out)
    assert code == 0 and report["k"] == 6 and report["target_met"] is True
    assert any("reached with k=6" in n for n in report["notes"])
    code, out, err = invoke("compress", src, "--target-psnr", "80", "-k", "3", "-o",
                            tmp_path / "b.png", "--json")  # fmt: skip
    assert code == 3 and json.loads(out)["target_met"] is False
    assert (tmp_path / "b.png").exists()  # still written
    code, _, err = invoke("compress", src, "--target-psnr", "30", "--max-mse", "5")
    assert code == 2 and "not both" in err


def test_dither_spreads_the_error_and_uses_only_palette_colors(tmp_path):
    g = np.tile(np.linspace(0, 255, 256).astype(np.uint8), (32, 1))
    src = tmp_path / "gradient.png"
    Image.fromarray(np.dstack([g, g // 2, 255 - g])).save(src)
    rows = {}
    for mode in ("none", "floyd-steinberg"):
        out = tmp_path / f"{mode}.png"
        code, stdout, err = invoke("compress", src, "-k", "4", "--dither", mode, "-o", out,
                                   "--json")  # fmt: skip
        assert code == 0, err
        rows[mode] = json.loads(stdout)
        written = read_rgba(out)
        with Image.open(out) as im:
            assert im.mode == "P" and len(im.getcolors()) <= 4
        original = np.asarray(Image.open(src).convert("RGB"))
        assert rows[mode]["mse"] == pytest.approx(mse_rgb(original, written), rel=1e-12)
        # distinct 2x2 patterns: dithering mixes colors locally, banding does not
        keys = written[:-1:2, :-1:2, 0].astype(int) * 7 + written[1::2, 1::2, 0] * 3
        rows[mode]["patterns"] = np.unique(keys).size
    assert rows["floyd-steinberg"]["patterns"] > rows["none"]["patterns"]
    assert rows["floyd-steinberg"]["mse"] > rows["none"]["mse"]
    assert any("dithered" in n for n in rows["floyd-steinberg"]["notes"])
