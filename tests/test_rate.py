"""Smaller files at a given quality (issue 13): quality targets, a minimum quality that
refuses, and the optimizing encoder."""

from __future__ import annotations

import csv
import json

import numpy as np
from helpers import SAMPLES, blocks, kquant
from PIL import Image


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


def test_optimize_keeps_pixels_and_metadata_and_is_deterministic(tmp_path):
    src = tmp_path / "in.png"
    Image.open(SAMPLES / "china.jpg").save(src, dpi=(150, 150))
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
