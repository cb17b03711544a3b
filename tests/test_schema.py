"""One report schema and one settings object: every report field reaches every output,
and every rule is the library's, with the same message on the command line."""

from __future__ import annotations

import csv
import dataclasses
import json
import pickle

import numpy as np
import pytest
from helpers import blocks, kquant
from PIL import Image

from kquant import CompressSettings, FitOptions, Report, Stage, StageSeconds, compress_file
from kquant.errors import UsageError
from kquant.run.report import format_report, report_row, row_columns
from kquant.stages import STAGES


def _expected_columns() -> list[str]:
    """The flat columns, derived here from Report and StageSeconds themselves."""
    columns = []
    for field in dataclasses.fields(Report):
        if field.name == "seconds":
            columns += [f"seconds_{sub.name}" for sub in dataclasses.fields(StageSeconds)]
        else:
            columns.append(field.name)
    return columns


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.fromarray(blocks(16, 16, seed=i)).save(src / f"{i}.png")
    (src / "bad.png").write_bytes(b"not a png")
    (src / "notes.txt").write_text("not an image")
    return src


def test_csv_report_has_every_report_field(folder, tmp_path):
    report = tmp_path / "r.csv"
    ran = kquant("compress", folder, "-o", tmp_path / "out", "-k", "3", "--target-psnr", "30",
                 "--report", report, "-j", "1")  # fmt: skip
    assert ran.returncode == 1, ran.stderr  # bad.png
    with open(report, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = {r["input"].rsplit("/", 1)[-1]: r for r in reader}
        header = reader.fieldnames
    assert set(header) == set(_expected_columns()) | {"status", "error"}
    assert header == row_columns()
    ok = rows["0.png"]
    assert ok["status"] == "ok" and ok["written"] == "True"
    assert ok["target_met"] in ("True", "False")
    assert all(ok[f"seconds_{s}"] != "" for s in ("load", "fit", "map", "save", "total"))
    assert ok["seconds_metrics"] == ""  # not asked for
    assert rows["bad.png"]["status"] == "error" and rows["bad.png"]["mse"] == ""
    assert rows["notes.txt"]["status"] == "skipped"


def test_jsonl_report_and_json_rows_have_every_report_field(folder, tmp_path):
    report = tmp_path / "r.jsonl"
    ran = kquant("compress", folder, "-o", tmp_path / "out", "-k", "3", "--report", report,
                 "--json", "-j", "1", "--metrics", "ssim")  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    keys = {f.name for f in dataclasses.fields(Report)} | {"status", "error"}
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(rows) == 4 and all(set(row) == keys for row in rows)
    ok = next(r for r in rows if r["status"] == "ok")
    assert set(ok["seconds"]) == {f.name for f in dataclasses.fields(StageSeconds)}
    assert ok["seconds"]["metrics"] is not None and ok["written"] is True
    assert ok["target_met"] is None and ok["ssim"] is not None
    printed = [json.loads(line) for line in ran.stdout.splitlines()]
    assert printed and all(set(row) == keys for row in printed)
    assert printed == rows  # --json prints every input's row, as the report has it
    assert {r["status"] for r in rows} == {"ok", "error", "skipped"}
    assert all(r["output"] is None for r in rows if r["status"] != "ok")


def _sample_report() -> Report:
    return Report(
        input="in.jpg", output="out.png", format="PNG", method="kmeans", space="lab",
        dither="floyd-steinberg", dither_strength=0.5, k=16, seed=3, sample=1000, width=40,
        height=30, frames=1, frames_out=1, grayscale=False, alpha=False, colors_in=900,
        colors_out=16,
        mse=12.5, psnr=37.2, max_error=40, delta_e=2.5, ssim=0.91, delta_e_blur=1.5,
        ssim_blur=0.97, ssimulacra2=71.5, bytes_in=5000, bytes_out=1500,
        seconds=StageSeconds(load=0.1, fit=0.2, map=0.3, save=0.4, metrics=0.5, total=1.5),
        notes=("a note",), written=True, target_met=True, min_met=True,
    )  # fmt: skip


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, tuple):
        return (*value, "another note")
    if isinstance(value, StageSeconds):
        return dataclasses.replace(value, fit=9.0)
    raise AssertionError(value)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Report)])
def test_summary_shows_every_report_field(name):
    base = _sample_report()
    changed = dataclasses.replace(base, **{name: _changed(getattr(base, name))})
    assert format_report(changed) != format_report(base), f"{name} does not show"


def test_a_row_without_a_report_has_every_key():
    row = report_row(None, input="x.png", output=None, status="error", error="boom")
    assert list(row) == ["input", "output", "status", "error"] + [
        f.name for f in dataclasses.fields(Report) if f.name not in ("input", "output")
    ]


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


def test_stages_are_announced_in_order(tmp_path):
    src = tmp_path / "x.png"
    Image.fromarray(blocks(16, 16)).save(src)
    seen: list[Stage] = []
    compress_file(src, tmp_path / "o.png", k=3, metrics=("ssim",), progress=seen.append)
    assert seen == list(STAGES)
    assert [f.name for f in dataclasses.fields(StageSeconds)] == [s.value for s in STAGES] + [
        "total"
    ]
