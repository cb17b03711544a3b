"""The `kquant compress` command (kquant/cli/compress.py and what it runs), in
process (``kquant()``) and, where the process matters, as real subprocesses
(``run_kquant``): outputs, names, reports, re-runs, alpha, help, quality minimums."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    SAMPLES,
    blocks,
    fitting,
    kquant,
    kquant_exe,
    mse_rgb,
    read_rgba,
    run_kquant,
    run_kquant_on_terminal,
    wait_for,
)
from PIL import Image, ImageCms

import kquant as kq
from kquant.io.images import format_for

SIX = np.array([[10, 20, 30], [200, 10, 10], [10, 200, 10], [10, 10, 200],
                [250, 250, 0], [0, 250, 250]], np.uint8)  # fmt: skip


def _folder(root: Path, n: int = 3, size: int = 16) -> Path:
    root.mkdir()
    for i in range(n):
        Image.fromarray(blocks(size, size, seed=i)).save(root / f"x-{i}.png")
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _six(path: Path) -> Path:
    Image.fromarray(SIX[np.random.default_rng(0).integers(0, 6, (30, 30))]).save(path)
    return path


def _hard_and_soft_edges() -> np.ndarray:
    """(64, 64, 4): an opaque gradient with a hard-edged opaque bar, a disc whose edge
    fades out, and a fully transparent corner."""
    y, x = np.mgrid[:64, :64]
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 1] = x * 4, y * 4
    rgba[..., 2] = 90 + np.random.default_rng(0).integers(0, 40, (64, 64))
    radius = np.hypot(y - 32, x - 32)
    rgba[..., 3] = np.clip((28 - radius) * 32, 0, 255).astype(np.uint8)
    rgba[:8, :, 3] = 255  # hard edge against the soft ones
    return rgba


REPORT_KEYS = {
    "input", "output", "method", "k", "seed", "width", "height", "colors_in", "colors_out",
    "mse", "psnr", "max_error", "bytes_in", "bytes_out", "seconds",
}  # fmt: skip


def invoke(*args: str | Path) -> tuple[int, str, str]:
    ran = kquant(*args)
    return ran.returncode, ran.stdout, ran.stderr


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


def test_a_minimum_quality_writes_nothing_below_it(tmp_path):
    src = SAMPLES / "coffee.png"
    out = tmp_path / "o.png"
    ran = kquant("compress", src, "-k", "8", "--min-psnr", "30", "-o", out, "--json")
    assert ran.returncode == 99, ran.stderr
    row = json.loads(ran.stdout)
    assert row["status"] == "skipped" and row["error"] == "quality below the minimum"
    assert row["written"] is False and row["min_met"] is False and row["output"] is None
    assert not out.exists()
    ran = kquant("compress", src, "-k", "64", "--min-psnr", "30", "-o", out, "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["min_met"] is True and out.exists()


def test_a_minimum_in_a_batch_keeps_the_others_and_exits_99(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(blocks(32, 32, noise=0)).save(src / "flat.png")  # 4 colors: lossless
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(src / "noise.png")
    report = tmp_path / "r.csv"
    ran = kquant("compress", src, "-k", "4", "--min-psnr", "25", "-o", tmp_path / "out",
                 "--report", report, "-j", "1")  # fmt: skip
    assert ran.returncode == 99, ran.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["flat-k4.png"]
    with open(report, newline="") as fh:
        rows = {r["input"].rsplit("/", 1)[-1]: r for r in csv.DictReader(fh)}
    assert rows["noise.png"]["status"] == "skipped" and rows["noise.png"]["min_met"] == "False"
    assert rows["flat.png"]["status"] == "ok"


def test_a_minimum_above_the_target_is_refused(tmp_path):
    ran = kquant("compress", SAMPLES / "coffee.png", "--target-psnr", "30", "--min-psnr", "35",
                 "-o", tmp_path / "o.png")  # fmt: skip
    assert ran.returncode == 2 and "--min-psnr" in ran.stderr


def test_several_inputs_refuse_an_output_that_looks_like_a_file(tmp_path):
    src = _folder(tmp_path / "in", n=2)
    ran = kquant("compress", src / "x-0.png", src / "x-1.png", "-o", tmp_path / "one.png")
    assert ran.returncode == 2 and "looks like a file" in ran.stderr
    assert "-o/--output" in ran.stderr and ran.stderr.count("\n") == 1
    assert not (tmp_path / "one.png").exists()
    ran = kquant("compress", src, "-o", tmp_path / "one.png")  # a folder input is a batch too
    assert ran.returncode == 2 and not (tmp_path / "one.png").exists()
    ran = kquant("compress", src, "-o", tmp_path / "one", "-j", "1")  # a folder name is fine
    assert ran.returncode == 0 and len(list((tmp_path / "one").iterdir())) == 2


def test_the_same_batch_command_runs_again(tmp_path):
    src = _folder(tmp_path / "shots")
    first = kquant("compress", src, "-k", "16", "-j", "1")
    assert first.returncode == 0, first.stderr
    written = _files(src)
    assert sorted(written) == ["x-0-k16.png", "x-0.png", "x-1-k16.png", "x-1.png",
                               "x-2-k16.png", "x-2.png"]  # fmt: skip
    report = tmp_path / "again.csv"
    again = kquant("compress", src, "-k", "16", "--skip-existing", "--report", report)
    assert again.returncode == 0, again.stderr
    assert "0 ok, 3 skipped, 0 failed; 3 other files ignored" in again.stderr
    assert _files(src) == written and not list(src.glob("*-k16-k16.png"))
    with open(report, newline="") as fh:
        rows = {Path(r["input"]).name: r for r in csv.DictReader(fh)}
    assert rows["x-0-k16.png"]["status"] == "skipped"
    assert rows["x-0-k16.png"]["error"] == f"an output of this run (of {src / 'x-0.png'})"
    assert rows["x-0.png"]["error"] == "output exists" and rows["x-0.png"]["output"] != ""
    forced = kquant("compress", src, "-k", "16", "--force", "-j", "1")
    assert forced.returncode == 0 and "3 ok" in forced.stderr
    assert _files(src) == written  # the same bytes again
    plain = kquant("compress", src, "-k", "16", "-j", "1")  # one line, before any work
    assert plain.returncode == 1 and "3 of 3 outputs exist" in plain.stderr
    assert plain.stderr.count("\n") == 1
    # another k beside them: the earlier outputs are not taken as inputs (x-0-k16-k64.png)
    other = kquant("compress", src, "-k", "64", "-n")
    assert other.returncode == 0 and len(other.stdout.splitlines()) == 6
    assert f"x-0-k16.png: ignored (an earlier output of kquant, from {src / 'x-0.png'})" in (
        other.stdout)  # fmt: skip
    assert "k16-k64" not in other.stdout


def test_an_input_named_twice_as_output_says_which_overwrites_which(tmp_path):
    src = _folder(tmp_path / "in", n=1)
    Image.fromarray(blocks(16, 16, seed=9)).save(src / "x-0-k16.png")
    ran = kquant("compress", src / "x-0.png", src / "x-0-k16.png", "-k", "16")
    assert ran.returncode == 2
    assert (
        f"{src / 'x-0.png'} would be written to {src / 'x-0-k16.png'}, which is also an input"
        in ran.stderr
    )


def test_an_existing_report_is_kept_replaced_or_added_to(tmp_path):
    src = _folder(tmp_path / "in", n=2)
    out, report = tmp_path / "out", tmp_path / "run.csv"
    assert kquant("compress", src, "-o", out, "--report", report, "-j", "1").returncode == 0
    before = report.read_text()
    refused = kquant("compress", src, "-o", tmp_path / "other", "--report", report)
    assert refused.returncode == 1 and "report already exists" in refused.stderr
    assert report.read_text() == before and not (tmp_path / "other").exists()  # no work done
    resumed = kquant("compress", src, "-o", out, "--report", report, "--skip-existing")
    assert resumed.returncode == 0, resumed.stderr
    lines = report.read_text().splitlines()
    assert lines[: len(before.splitlines())] == before.splitlines()  # history kept
    assert len(lines) == 5 and sum(line.startswith("input,") for line in lines) == 1
    with open(report, newline="") as fh:
        statuses = [row["status"] for row in csv.DictReader(fh)]
    assert statuses == ["ok", "ok", "skipped", "skipped"]
    replaced = kquant("compress", src, "-o", out, "--report", report, "--force", "-j", "1")
    assert replaced.returncode == 0 and len(report.read_text().splitlines()) == 3
    jsonl = tmp_path / "run.jsonl"
    jsonl.write_text('{"input": "earlier"}\n')
    kquant("compress", src, "-o", out, "--report", jsonl, "--skip-existing")
    first = jsonl.read_text().splitlines()[0]
    assert json.loads(first)["input"] == "earlier" and len(jsonl.read_text().splitlines()) == 3


def test_a_failed_row_names_no_output(tmp_path):
    src = _folder(tmp_path / "in", n=1)
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    report = tmp_path / "r.csv"
    ran = kquant("compress", "-j", "1", src, "-o", tmp_path / "out", "--json", "--report", report)
    assert ran.returncode == 1
    rows = {Path(r["input"]).name: r for r in map(json.loads, ran.stdout.splitlines())}
    assert rows["broken.png"]["status"] == "error" and rows["broken.png"]["output"] is None
    assert "broken.png" in rows["broken.png"]["error"]
    assert rows["x-0.png"]["output"] == str(tmp_path / "out" / "x-0-k256.png")
    with open(report, newline="") as fh:
        csv_rows = {Path(r["input"]).name: r for r in csv.DictReader(fh)}
    assert csv_rows["broken.png"]["output"] == "" and csv_rows["x-0.png"]["output"] != ""


def test_names_carry_the_k_that_was_used(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _six(src / "six.png")
    Image.fromarray(blocks(20, 20)).save(src / "blocks.png")
    out = tmp_path / "out"
    ran = kquant("compress", src, "--target-psnr", "80", "-o", out, "--json", "-j", "1")
    assert ran.returncode == 3  # blocks.png (noise) cannot reach 80 dB
    rows = {Path(r["input"]).name: r for r in map(json.loads, ran.stdout.splitlines())}
    assert rows["six.png"]["k"] == 6 and rows["six.png"]["output"] == str(out / "six-k6.png")
    assert rows["blocks.png"]["k"] == 256 and (out / "blocks-k256.png").exists()
    assert sorted(p.name for p in out.iterdir()) == ["blocks-k256.png", "six-k6.png"]
    # resumed: the names known only after the search are still found and skipped
    again = kquant("compress", "-j", "1", src, "--target-psnr", "80", "-o", out, "--skip-existing")
    assert again.returncode == 0 and "0 ok, 2 skipped" in again.stderr
    palette = tmp_path / "p.txt"
    palette.write_text("#0a141e\n#c80a0a\n#0ac80a\n")
    ran = kquant("compress", "-j", "1", src / "six.png", "--palette", palette, "-k", "16", "--json")
    assert ran.returncode == 0
    row = json.loads(ran.stdout)
    assert row["k"] == 3 and row["output"] == str(src / "six-k3-palette.png")
    assert "warning: -k 16 is ignored" in ran.stderr


def test_default_names_tell_methods_apart(tmp_path):
    src = tmp_path / "x.png"
    Image.fromarray(blocks(24, 24)).save(src)
    assert kquant("compress", src, "-k", "8").returncode == 0
    ran = kquant("compress", src, "-k", "8", "--method", "random")
    assert ran.returncode == 0, ran.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-k8-random.png", "x-k8.png", "x.png"]


@pytest.mark.parametrize("k", [4, 16, 64, 256])
@pytest.mark.parametrize("space", ["rgb", "lab"])
@pytest.mark.parametrize("dither", ["none", "floyd-steinberg"])
def test_opaque_stays_opaque_and_transparent_stays_transparent(tmp_path, k, space, dither):
    src = tmp_path / "edges.png"
    rgba = _hard_and_soft_edges()
    Image.fromarray(rgba).save(src)
    out = tmp_path / "out.png"
    ran = kquant("compress", src, "-k", k, "--space", space, "--dither", dither, "-o", out)
    assert ran.returncode == 0, ran.stderr
    written = read_rgba(out)
    opaque, clear = rgba[..., 3] == 255, rgba[..., 3] == 0
    assert opaque.sum() > 500 and ((rgba[..., 3] > 0) & ~opaque).sum() > 200
    assert (written[..., 3][opaque] == 255).all()
    assert (written[..., 3][clear] == 0).all()


def test_a_bare_number_is_taken_for_colors(blocks_png, tmp_path):
    ran = kquant("compress", blocks_png, "64", "-o", tmp_path / "o.png")
    assert ran.returncode == 2 and "for 64 colors, use -k 64" in ran.stderr
    assert not (tmp_path / "o.png").exists()


def test_compress_help_is_short_in_sections_with_examples_first():
    """Issue 23: --help was 110 lines with -k at line 38. Now at most 50 lines with
    the options most runs need, -k, -o, -f and the quality options among them;
    --help-all lists every option in its section, with more examples. No click
    internals (INTEGER RANGE, x>=1, [a|b|c] choice lists) in either."""
    text = kquant("compress", "--help").stdout
    lines = text.splitlines()
    assert len(lines) <= 50
    assert text.index("Examples:") < text.index("Output:")
    assert text.count("kquant compress ") >= 3 + 1  # three examples and --help-all's line
    for flag in ("-k, --colors", "-o, --output", "-f, --force", "--target-psnr", "--min-psnr",
                 "--dither", "--json", "-n, --dry-run", "--help-all"):  # fmt: skip
        assert flag in text, flag
    assert next(i for i, line in enumerate(lines) if "-k, --colors" in line) < 40
    assert "--cluster" not in text and "--sample" not in text
    every = kquant("compress", "--help-all").stdout
    heads = [line for line in every.splitlines() if re.fullmatch(r"[A-Za-z][A-Za-z -]+:", line)]
    assert heads == ["Inputs:", "Output:", "Colors and quality:", "Reporting:",
                     "k-means tuning:", "Other options:"]  # fmt: skip
    assert "--cluster" in every and "More examples:" in every and "more options" not in every
    for command in ("compress", "compare", "palette", "sweep", None):
        for flag in ("--help", "--help-all") if command else ("--help",):
            shown = kquant(*([command] if command else []), flag).stdout
            assert not re.search(r"INTEGER|FLOAT|TEXT|DIRECTORY|RANGE|x>=|\[\w+(\|[\w+-]+)+\]",
                                 shown), (command, flag)  # fmt: skip
            assert max(map(len, shown.splitlines())) <= 80, (command, flag)  # a terminal's


def _other_rgb_profile() -> bytes:
    """An RGB ICC profile that is not sRGB: LittleCMS's sRGB with its red primary's
    XYZ moved (the rXYZ tag), colors then change by far more than a level."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    for entry in range(int.from_bytes(icc[128:132], "big")):
        at = 132 + 12 * entry
        if icc[at : at + 4] == b"rXYZ":
            offset = int.from_bytes(icc[at + 4 : at + 8], "big")
            icc[offset + 8 : offset + 12] = (int(0.30 * 65536)).to_bytes(4, "big")  # X
    return bytes(icc)


def test_dpi_and_icc_are_kept_unless_stripped(tmp_path):
    """The ICC profile and DPI are kept; in a PNG an sRGB profile is written as
    PNG's 13-byte sRGB chunk (its intent kept), any other profile as it came."""
    from kquant.io.profiles import srgb_intent

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    other = _other_rgb_profile()
    assert srgb_intent(srgb) == 0 and srgb_intent(other) is None
    assert srgb_intent(b"not a profile") is None
    for name, icc in (("srgb", srgb), ("other", other)):
        src = tmp_path / f"in-{name}.png"
        Image.fromarray(blocks(16, 16)).save(src, dpi=(300, 300), icc_profile=icc)
        for suffix in (".png", ".jpg", ".tif"):
            kept, stripped = tmp_path / f"{name}{suffix}", tmp_path / f"{name}-s{suffix}"
            assert kquant("compress", src, "-k", "4", "-o", kept).returncode == 0
            assert kquant("compress", src, "-k", "4", "-o", stripped, "--strip").returncode == 0
            with Image.open(kept) as im:
                assert tuple(round(v) for v in im.info["dpi"]) == (300, 300), suffix
                if suffix == ".png" and name == "srgb":
                    assert "icc_profile" not in im.info and im.info["srgb"] == 0
                else:
                    assert im.info.get("icc_profile") == icc and "srgb" not in im.info
            with Image.open(stripped) as im:
                assert "icc_profile" not in im.info and "srgb" not in im.info
                assert round(im.info.get("dpi", (72, 72))[0]) != 300


def test_the_one_image_bar_moves_during_the_fit(tmp_path):
    src = tmp_path / "noise.png"
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(src)  # a fit of about 1.5 s: the clock ticks during it
    code, screen = run_kquant_on_terminal("compress", src, "-k", "128", "--n-init", "5",
                                          "-o", tmp_path / "o.png")  # fmt: skip
    assert code == 0
    assert "load" in screen and "fit" in screen and "save" in screen and "PSNR" in screen
    stamps = set(re.findall(r"fit\s.*?(\d\d:\d\d)", screen))
    assert len(stamps) >= 2, screen  # the elapsed time went on while fitting


@pytest.mark.parametrize("method", ["minibatch", "random"])
def test_opaque_stays_opaque_with_every_method(tmp_path, method):
    src, out = tmp_path / "edges.png", tmp_path / "out.png"
    rgba = _hard_and_soft_edges()
    Image.fromarray(rgba).save(src)
    ran = kquant("compress", src, "-k", "16", "--method", method, "-o", out)
    assert ran.returncode == 0, ran.stderr
    written = read_rgba(out)
    assert (written[..., 3][rgba[..., 3] == 255] == 255).all()
    assert (written[..., 3][rgba[..., 3] == 0] == 0).all()


def test_an_output_larger_than_its_input_is_said_and_counted(tmp_path):
    """Issue 23: a photo's indexed PNG is often larger than its JPEG. The report says
    so with what to try, the batch's end line counts them, the HTML page marks them."""
    noise = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noisy.jpg", quality=30)  # a small JPEG
    Image.fromarray(blocks(64, 80)).save(tmp_path / "flat.png")  # shrinks
    one = kquant("compress", tmp_path / "noisy.jpg", "-k", "16", "-o", tmp_path / "n.png",
                 "--json")  # fmt: skip
    row = json.loads(one.stdout)
    assert one.returncode == 0 and row["bytes_out"] > row["bytes_in"] > 0
    note = next(n for n in row["notes"] if n.startswith("larger than the input"))
    assert "-o NAME.webp" in note and "--skip-if-larger" in note and note in one.stderr
    as_webp = kquant("compress", tmp_path / "noisy.jpg", "-k", "16", "-o", tmp_path / "n.webp",
                     "--json")  # fmt: skip
    note = next(n for n in json.loads(as_webp.stdout)["notes"] if n.startswith("larger"))
    assert "webp" not in note.lower() and "fewer colors" in note  # no advice it already took
    batch = kquant("compress", "-j", "1", tmp_path / "noisy.jpg", tmp_path / "flat.png", "-k", "16",
                   "-o", tmp_path / "out", "--html", tmp_path / "page.html")  # fmt: skip
    assert batch.returncode == 0
    assert "(1 of 2 outputs larger than their inputs)" in batch.stderr.splitlines()[-1]
    page = (tmp_path / "page.html").read_text()
    assert page.count('class="larger"') == 1 and "▲ marks an output larger" in page
    small = kquant("compress", tmp_path / "flat.png", "-k", "4", "-o", tmp_path / "f.png",
                   "--json")  # fmt: skip
    assert not any("larger" in n for n in json.loads(small.stdout)["notes"])


def test_an_output_folder_is_one_rule_for_one_input_as_for_many(tmp_path, monkeypatch):
    """Issue 23: `-o small/` (ending in /) or an existing folder means "into this
    folder", created as needed, for one input as for many; `-o new/dir/x.png` makes
    its folders. So `find -exec kquant compress -o small/ {} \\;` just works."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    for name in ("photos/a.png", "photos/sub/b.png"):
        Image.fromarray(blocks(16, 16)).save(tmp_path / name)
    for name in ("photos/a.png", "photos/sub/b.png"):  # as find -exec runs it, one by one
        ran = kquant("compress", name, "-k", "4", "-o", "small/", "-q")
        assert ran.returncode == 0, ran.stderr
    assert sorted(p.name for p in (tmp_path / "small").iterdir()) == ["a-k4.png", "b-k4.png"]
    assert kquant("compress", "photos/a.png", "-k", "8", "-o", "small", "-q").returncode == 0
    assert (tmp_path / "small" / "a-k8.png").is_file()  # an existing folder: into it
    deep = kquant("compress", "photos/a.png", "-k", "4", "-o", "new/deep/x.png", "-q")
    assert deep.returncode == 0 and (tmp_path / "new" / "deep" / "x.png").is_file()
    files = kquant("compress", "photos/a.png", "-k", "4", "-o", "o/", "--html", "pages/p.html",
                   "--report", "reports/r.csv", "-q")  # fmt: skip
    assert files.returncode == 0 and Path("pages/p.html").is_file()  # one rule for every file
    assert Path("reports/r.csv").is_file()
    plot = kquant("sweep", "photos/a.png", "-k", "2,4", "--plot", "plots/p.svg", "-q")
    assert plot.returncode == 0 and Path("plots/p.svg").is_file()
    Path("blocked").write_text("a file where a folder would go")
    blocked = kquant("compress", "photos/a.png", "-k", "4", "-o", "o2/", "--html",
                     "blocked/p.html")  # fmt: skip
    assert blocked.returncode == 1 and "cannot make its folder" in blocked.stderr
    assert not Path("o2").exists()  # refused before any work
    bad = kquant("compress", "photos/a.png", "-k", "4", "-o", "nosuffix")
    assert bad.returncode == 2 and "cannot tell the output format" in bad.stderr
    assert "(a folder: " in bad.stderr  # how to say "into this folder"
    assert not (tmp_path / "nosuffix").exists()


def test_in_place_with_force_as_pngquant_ext_png_force(tmp_path, monkeypatch):
    """Issue 23: `--name '{stem}.{ext}'` writes each image over itself: refused without
    --force (exit 2, nothing touched), done with it (atomically, after reading); a
    report or page is never written over an input, --force or not."""
    monkeypatch.chdir(tmp_path)
    for name in ("a.png", "b.png"):
        Image.fromarray(blocks(24, 24, noise=30)).save(name)
    before = {name: Path(name).read_bytes() for name in ("a.png", "b.png")}
    refused = kquant("compress", "-j", "1", "a.png", "b.png", "-k", "4", "--name", "{stem}.{ext}")
    assert refused.returncode == 2 and "would be written over itself" in refused.stderr
    assert "--force" in refused.stderr
    assert {n: Path(n).read_bytes() for n in before} == before
    done = kquant(
        "compress", "-j", "1", "a.png", "b.png", "-k", "4", "--name", "{stem}.{ext}", "--force"
    )
    assert done.returncode == 0 and "2 ok" in done.stderr
    for name in before:
        assert Path(name).read_bytes() != before[name]
        assert len(np.unique(read_rgba(Path(name)).reshape(-1, 4), axis=0)) <= 4
    now = Path("a.png").read_bytes()
    page = kquant("compress", "-j", "1", "a.png", "b.png", "-k", "4", "--name", "{stem}.{ext}",
                  "--force", "--html", "a.png")  # fmt: skip
    assert page.returncode == 2 and "same file as a.png" in page.stderr
    assert Path("a.png").read_bytes() == now


def test_the_suffix_picks_a_pictures_format_or_is_refused(tmp_path, blocks_png):
    """Issue 23: `sweep --plot p.svg`, `palette --swatch sw.jpg`, `compare
    --side-by-side s.webp` write those formats (were PNG bytes under any name); an
    unknown suffix is one line, exit 2, before any work, nothing written."""
    pytest.importorskip("matplotlib")  # SVG: test_sweep.py's curves per method
    pdf = tmp_path / "p.pdf"
    assert kquant("sweep", blocks_png, "-k", "2,4", "--plot", pdf).returncode == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    again = tmp_path / "again.pdf"
    kquant("sweep", blocks_png, "-k", "2,4", "--plot", again)
    assert again.read_bytes() == pdf.read_bytes()  # no dates: the same bytes
    assert kquant("palette", blocks_png, "-k", "4", "--swatch", tmp_path / "s.jpg").returncode == 0
    with Image.open(tmp_path / "s.jpg") as im:
        assert im.format == "JPEG"
    sheet = tmp_path / "s.webp"
    assert kquant("compare", blocks_png, "-k", "4", "--side-by-side", sheet).returncode == 0
    with Image.open(sheet) as im:
        assert im.format == "WEBP"
    refused = [
        ["sweep", blocks_png, "-k", "2", "--plot", tmp_path / "p.xyz"],
        ["palette", blocks_png, "-k", "4", "--swatch", tmp_path / "s.svg"],
        ["compare", blocks_png, "-k", "4", "--side-by-side", tmp_path / "c.svg"],
    ]
    for args in refused:
        ran = kquant(*args)
        assert ran.returncode == 2 and "cannot tell the" in ran.stderr
        assert ran.stderr.count("\n") == 1 and not Path(args[-1]).exists()


def test_default_names_tell_apart_what_changes_the_pixels(tmp_path, monkeypatch):
    """Issue 23: trying options one after another writes one file each (was "already
    exists", exit 1), pngquant's -fs8/-or8 idea: whatever is not the default is in
    the name."""
    monkeypatch.chdir(tmp_path)
    Image.fromarray(blocks(24, 24, noise=30)).save("a.png")
    runs = {
        (): "a-k8.png",
        ("--dither", "none"): "a-k8-nodither.png",
        ("--space", "lab"): "a-k8-lab.png",
        ("--space", "rgb", "--dither", "adaptive", "--dither-strength", "0.5"):
            "a-k8-rgb-adaptive-d0.5.png",
        ("--method", "random", "--dither-strength", "0"): "a-k8-random-nodither.png",
        ("--method", "random", "--dither-strength", "0", "--seed", "1"):
            "a-k8-random-nodither-s1.png",  # random codebooks of several seeds
    }  # fmt: skip
    for args, name in runs.items():
        ran = kquant("compress", "a.png", "-k", "8", *args, "--json")
        assert ran.returncode == 0, ran.stderr
        assert Path(json.loads(ran.stdout)["output"]).name == name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.png", *runs.values()])


def test_a_batch_run_again_says_how_to_resume_in_one_line(tmp_path):
    """Issue 23: the same batch again without flags was a line "already exists" a
    file, then "N failed"; now one line before any work, both ways on."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(blocks(16, 16, noise=10 * i)).save(src / f"{i}.png")
    first = kquant("compress", "-j", "1", src, "-k", "4", "-o", tmp_path / "out")
    assert first.returncode == 0
    (tmp_path / "out" / "2-k4.png").unlink()  # as if interrupted before the last
    again = kquant("compress", "-j", "1", src, "-k", "4", "-o", tmp_path / "out", "--report",
                   tmp_path / "r.csv")  # fmt: skip
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert "2 of 3 outputs exist" in again.stderr
    assert "--skip-existing to resume, --force to redo" in again.stderr
    assert not (tmp_path / "out" / "2-k4.png").exists() and not (tmp_path / "r.csv").exists()
    resumed = kquant(
        "compress", "-j", "1", src, "-k", "4", "-o", tmp_path / "out", "--skip-existing"
    )
    assert resumed.returncode == 0 and "1 ok, 2 skipped" in resumed.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, monkeypatch):
    """Issue 23: -n/--dry-run prints INPUT -> OUTPUT for each image (existing ones
    marked) and what is ignored, writes nothing; a real run's end line says where the
    outputs went."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("in/a.png", "in/sub/b.png"):
        Image.fromarray(blocks(16, 16)).save(name)
    Path("in/notes.txt").write_text("not an image")
    plan = kquant("compress", "-j", "1", "-r", "in", "-k", "4", "-o", "out/", "-n")
    assert plan.returncode == 0 and not Path("out").exists()
    assert plan.stdout.splitlines() == [
        "in/a.png -> out/a-k4.png",
        "in/sub/b.png -> out/sub/b-k4.png",
        "in/notes.txt: ignored (not an image file name)",
    ]
    run = kquant("compress", "-j", "1", "-r", "in", "-k", "4", "-o", "out/")
    assert run.returncode == 0 and ", in out/;" in run.stderr.splitlines()[-1]
    again = kquant(
        "compress", "-j", "1", "-r", "in", "-k", "4", "-o", "out/", "--dry-run", "--json"
    )
    rows = [json.loads(line) for line in again.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["exists", "exists", "skipped"]
    assert rows[2]["note"] == "not an image file name"
    assert "the run would stop: 2 of 2 outputs exist" in again.stderr  # said before the run
    target = kquant("compress", "in/a.png", "--target-psnr", "30", "-n")
    assert target.stdout == "in/a.png -> in/a-k{k}.png (k found by the search)\n"
    assert "1 to write, 0 existing, 0 ignored; nothing written" in target.stderr
    beside = kquant("compress", "-j", "1", "in/a.png", "in/sub/b.png", "-k", "8")
    assert ", beside their inputs;" in beside.stderr


def test_files_from_a_list_or_stdin_as_find_print0_writes_it(tmp_path, monkeypatch):
    """Issue 23: `find ... -print0 | kquant compress --files-from - -0` pays start-up
    once for a found list (tar's -T, rsync's --files-from); names with spaces and
    newlines survive -0; a plain list is a line a name."""
    monkeypatch.chdir(tmp_path)
    names = ["a b.png", "new\nline.png", "c.png"]
    for name in names:
        Image.fromarray(blocks(16, 16)).save(name)
    ran = kquant("compress", "-j", "1", "--files-from", "-", "-0", "-k", "4", "-o", "nul/",
                 input="\0".join(names).encode() + b"\0")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert sorted(p.name for p in Path("nul").iterdir()) == sorted(
        n.replace(".png", "-k4.png") for n in names
    )
    Path("list.txt").write_text("a b.png\nc.png\n\n")
    lines = kquant("compress", "--files-from", "list.txt", "-k", "4", "-o", "lines/", "-n")
    assert lines.stdout.splitlines() == ["a b.png -> lines/a b-k4.png", "c.png -> lines/c-k4.png"]
    Image.fromarray(blocks(16, 16)).save("d.png")
    both = kquant("compress", "d.png", "--files-from", "list.txt", "-k", "4", "-n")
    assert both.stdout.splitlines()[0] == "d.png -> d-k4.png" and len(both.stdout.splitlines()) == 3
    for args, says in ((["-0", "-k", "4"], "add --files-from"),
                       (["--files-from", "nope.txt"], "nope.txt"),
                       (["-k", "4"], "give an INPUT")):  # fmt: skip
        bad = kquant("compress", *args)
        assert bad.returncode == 2 and says in bad.stderr
    empty = kquant("compress", "--files-from", "-", "-0", "-k", "4", input=b"")
    assert empty.returncode == 0 and "nothing to do" in empty.stderr  # a find found nothing


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
    proc = kquant("compress", src, "-k", "32", "--sample", "3000", "--seed", "1", "-o",
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


def test_a_missing_output_folder_is_made(blocks_png, tmp_path):
    """Issue 23: -o in folders that do not exist yet makes them (a blocked or
    unwritable folder is in the fault table)."""
    out = tmp_path / "no" / "such" / "dir" / "x.png"
    proc = kquant("compress", blocks_png, "-k", "4", "-o", out)
    assert proc.returncode == 0 and out.is_file()


def test_ctrl_c_leaves_no_partial_output(tmp_path):
    src = tmp_path / "big.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(src)
    out = tmp_path / "out.png"
    proc = subprocess.Popen(
        [kquant_exe(), "compress", str(src), "-k", "256", "--n-init", "1", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: fitting(proc.pid), "the fit")  # a fit of about a second
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["kquant: interrupted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


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


def _pillow_warns(path: Path) -> Path:
    """A PNG that Pillow reads with a warning (an acTL chunk of 0 frames)."""
    import struct
    import zlib

    Image.fromarray(blocks(16, 16)).save(path)
    data = path.read_bytes()
    actl = b"acTL" + struct.pack(">II", 0, 0)
    chunk = struct.pack(">I", 8) + actl + struct.pack(">I", zlib.crc32(actl))
    at = data.index(b"IDAT") - 4
    path.write_bytes(data[:at] + chunk + data[at:])
    return path


def test_shared_palette_warnings_come_before_its_file_is_written(tmp_path, monkeypatch):
    """What Pillow said about the images of a shared fit is printed before the
    palette file is written: a write that fails does not hide it."""
    from kquant.io import images

    warn = _pillow_warns(tmp_path / "warn.png")
    Image.fromarray(blocks(16, 16, seed=1)).save(tmp_path / "img.png")
    real = images.write_atomically

    def palette_unwritable(path, *args, **kwargs):
        if Path(path).suffix == ".gpl":
            raise kq.ImageWriteError(f"{path}: cannot write it")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(images, "write_atomically", palette_unwritable)
    ran = kquant("compress", "-j", "1", warn, tmp_path / "img.png", "-k", "4", "-o",
                 tmp_path / "out", "--shared-palette")  # fmt: skip
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        f"kquant: warning: {warn}: Invalid APNG, will use default PNG image if possible",
        f"kquant: error: {tmp_path / 'out' / 'palette-k4.gpl'}: cannot write it",
    ]


def test_out_of_memory_reading_a_resumed_shared_palette_names_it(tmp_path, monkeypatch):
    """--skip-existing reads the shared palette file back: running out of memory
    there names that file, as every other path names the file it was working on."""
    from kquant.io import palettes

    src = _folder(tmp_path / "in", n=2)
    out = tmp_path / "out"
    first = kquant("compress", "-j", "1", src, "-k", "4", "-o", out, "--shared-palette", "-q")
    assert first.returncode == 0, first.stderr

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(palettes, "read_palette", no_memory)
    again = kquant("compress", "-j", "1", src, "-k", "4", "-o", out, "--shared-palette",
                   "--skip-existing")  # fmt: skip
    assert again.returncode == 1
    assert again.stderr == f"kquant: error: {out / 'palette-k4.gpl'}: not enough memory\n"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--export", "PAL"], "--export writes the palette of --shared-palette; add it"),
        (["--palette", "PAL", "--shared-palette"],
         "--palette maps onto a given palette; --shared-palette fits one: give one of them"),
        (["--shared-palette", "--target-psnr", "30"],
         "a shared palette fixes the colors: it does not go with a quality target"),
        (["-k", "0"], "-k/--colors: k must be between 1 and 65536, got 0"),
    ],
)  # fmt: skip
def test_rules_of_the_settings_speak_in_options(tmp_path, blocks_png, extra, message):
    """The library's message names its settings (`export`); the command line says
    the options the user typed, in the words of the messages before issue 24."""
    palette = tmp_path / "p.gpl"
    palette.write_text("GIMP Palette\n0 0 0\n255 255 255\n")
    extra = [str(palette) if a == "PAL" else a for a in extra]
    ran = kquant("compress", blocks_png, *extra, "-o", tmp_path / "out.png")
    assert ran.returncode == 2
    assert ran.stderr == f"kquant: error: {message} (see 'kquant compress --help')\n"
    assert not (tmp_path / "out.png").exists()
