"""kquant.run.report: one report schema; every field reaches every output."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
from helpers import blocks, kquant
from PIL import Image

from kquant import Report, StageSeconds
from kquant.run.report import format_report, report_row, row_columns


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
