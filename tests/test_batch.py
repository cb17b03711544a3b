"""Many inputs: folders, globs, output trees, reports, resuming, failure isolation."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import blocks, kquant, kquant_exe, run_kquant_on_terminal, wait_for
from PIL import Image

from kquant.errors import UsageError
from kquant.run.batch import Item, expand_inputs, plan_jobs
from kquant.settings import FitOptions


def _tree(root: Path) -> dict[str, Path]:
    """A folder mixing good images, bad files and a subfolder."""
    files = {
        "a.png": lambda p: Image.fromarray(blocks(24, 24, seed=1)).save(p),
        "b.jpg": lambda p: Image.fromarray(blocks(24, 24, seed=2)).save(p, quality=95),
        "sub/c.png": lambda p: Image.fromarray(blocks(24, 24, seed=3)).save(p),
        "sub/deeper/d.webp": lambda p: Image.fromarray(blocks(24, 24, seed=4)).save(
            p, lossless=True
        ),
        "truncated.jpg": None,
        "text.png": lambda p: p.write_text("this is not a png\n"),
        "empty.png": lambda p: p.write_bytes(b""),
        "notes.txt": lambda p: p.write_text("not an image either"),
    }
    out = {}
    for name, make in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if make is None:
            Image.fromarray(blocks(64, 64)).save(root / "full.jpg", quality=90)
            path.write_bytes((root / "full.jpg").read_bytes()[:300])
            (root / "full.jpg").unlink()
        else:
            make(path)
        out[name] = path
    return out


def _rows(report: Path) -> dict[str, dict]:
    with open(report, newline="") as fh:
        return {Path(r["input"]).name: r for r in csv.DictReader(fh)}


def test_folder_with_bad_files_is_done_and_reported(tmp_path):
    src = tmp_path / "in"
    _tree(src)
    out = tmp_path / "out"
    report = tmp_path / "run.csv"
    proc = kquant("compress", src, "-r", "-k", "4", "-o", out, "--report", report, "-j", "1")
    assert proc.returncode == 1, proc.stderr
    # the good images are written, mirroring the tree
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a-k4.png", "b-k4.png", "sub/c-k4.png", "sub/deeper/d-k4.png"]
    for p in out.rglob("*.png"):
        with Image.open(p) as im:
            assert im.mode == "P" and len(im.getcolors()) <= 4
    rows = _rows(report)
    assert {n: r["status"] for n, r in rows.items()} == {
        "a.png": "ok", "b.jpg": "ok", "c.png": "ok", "d.webp": "ok",
        "truncated.jpg": "error", "text.png": "error", "empty.png": "error",
        "notes.txt": "skipped",
    }  # fmt: skip
    assert rows["notes.txt"]["error"] == "not an image file name"
    assert "empty file" in rows["empty.png"]["error"]
    assert "truncated or corrupt" in rows["truncated.jpg"]["error"]
    assert float(rows["a.png"]["mse"]) >= 0 and rows["a.png"]["colors_out"] == "4"
    # one line per failure, then the summary
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kquant: error:")]
    assert len(errors) == 3
    summary = proc.stderr.strip().splitlines()[-1]
    assert "4 ok, 0 skipped, 3 failed; 1 other file ignored" in summary
    assert "Traceback" not in proc.stderr


def test_skip_existing_does_no_work_on_a_second_run(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(blocks(16, 16, seed=i)).save(src / f"{i}.png")
    out = tmp_path / "out"
    first = kquant("compress", src, "-k", "4", "-o", out, "-j", "1")
    assert first.returncode == 0, first.stderr
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    report = tmp_path / "again.jsonl"
    second = kquant("compress", src, "-k", "4", "-o", out, "--skip-existing",
                    "--report", report)  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["skipped"] * 3
    assert all(r["error"] == "output exists" for r in rows)
    assert "0 ok, 3 skipped, 0 failed" in second.stderr
    # without --skip-existing, existing outputs stop the batch, not overwritten
    third = kquant("compress", src, "-k", "4", "-o", out, "-j", "1")
    assert third.returncode == 1 and "3 of 3 outputs exist" in third.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_name_collisions_are_refused_before_any_work(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        Image.fromarray(blocks(16, 16)).save(tmp_path / d / "x.png")
    out = tmp_path / "out"
    proc = kquant("compress", tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", "-o", out)
    assert proc.returncode == 2
    assert "would both be written to" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_glob_include_exclude_and_template(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("keep1.png", "keep2.png", "skip.png", "other.jpg"):
        Image.fromarray(blocks(16, 16)).save(src / name)
    out = tmp_path / "out"
    proc = kquant(
        "compress", f"{src}/*.png", "--exclude", "skip*", "-o", out, "-k", "2",
        "--name", "{stem}.small.{ext}", "--json", "-j", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep1.small.png", "keep2.small.png"]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]  # every input's row
    assert [(Path(r["input"]).name, r["status"]) for r in rows] == [
        ("skip.png", "skipped"), ("keep1.png", "ok"), ("keep2.png", "ok")
    ]  # fmt: skip
    assert rows[0]["error"] == "left out by the include/exclude patterns" and rows[1]["k"] == 2
    proc = kquant("compress", src, "--include", "*.jpg", "-o", out, "-k", "2")
    assert proc.returncode == 0 and (out / "other-k2.png").exists()


def test_skip_if_larger_keeps_nothing(tmp_path):
    # noise in a low-quality JPEG: no indexed PNG of it can be smaller
    src = tmp_path / "noise.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(src, quality=20)
    out = tmp_path / "out.png"
    proc = kquant("compress", src, "-k", "256", "-o", out, "--skip-if-larger", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["status"] == "skipped" and row["written"] is False
    assert any("not written" in n for n in row["notes"])
    assert not out.exists()


# ---------------------------------------------------------------- library


def test_expand_inputs_orders_and_dedupes(tmp_path):
    for name in ("b.png", "a.png", "z.txt", "sub/c.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    flat = expand_inputs([tmp_path])
    assert [i.relative.as_posix() for i in flat.items] == ["a.png", "b.png"]
    assert [(p.name, why) for p, why in flat.skipped] == [("z.txt", "not an image file name")]
    assert flat.batch
    deep = expand_inputs([tmp_path, tmp_path / "a.png"], recursive=True)
    assert [i.relative.as_posix() for i in deep.items] == ["a.png", "b.png", "sub/c.png"]
    single = expand_inputs([tmp_path / "z.txt"])  # named explicitly: always tried
    assert not single.batch and single.items[0].path.name == "z.txt"


def test_plan_jobs_paths_and_errors(tmp_path):
    items = [Item(tmp_path / "in" / "p.jpg", Path("sub/p.jpg"))]
    out = tmp_path / "out"
    (job,) = plan_jobs(items, output=out, batch=True, k=8, method="kmeans").jobs
    assert job.output == out / "sub" / "p-k8.png"
    (job,) = plan_jobs(items, output=None, batch=True, k=8, method="random",
                       template="{stem}-{method}.{ext}").jobs  # fmt: skip
    assert job.output == tmp_path / "in" / "p-random.jpg"
    (job,) = plan_jobs(items, output=None, batch=True, k=8, method="random").jobs
    assert job.output == tmp_path / "in" / "p-k8-random.png"  # methods told apart
    (job,) = plan_jobs(items, output=tmp_path / "x.gif", batch=False, k=8, method="kmeans").jobs
    assert job.output == tmp_path / "x.gif" and job.name is None
    (job,) = plan_jobs(items, output=out, batch=True, k=64, method="kmeans",
                       k_chosen_later=True).jobs  # fmt: skip
    assert job.name is not None and job.name(10) == out / "sub" / "p-k10.png"
    for template, match in [("{nope}.png", "unknown field"), ("a/{stem}.png", "file name"),
                            ("{stem:>400000000}.png", "format spec"),
                            ("{stem.__class__}.png", "unknown field")]:  # fmt: skip
        with pytest.raises(UsageError, match=match):
            plan_jobs(items, output=None, batch=True, k=8, method="kmeans", template=template)


def test_stdin_to_stdout_through_a_pipe(blocks_png):
    proc = subprocess.run(
        [kquant_exe(), "compress", "-", "-k", "4", "-o", "-"],
        input=blocks_png.read_bytes(), capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with Image.open(io.BytesIO(proc.stdout)) as im:
        assert im.format == "PNG" and im.mode == "P" and len(im.getcolors()) == 4
    assert b"- -> - (PNG)" in proc.stderr and b"PSNR" in proc.stderr


def test_jobs_2_gives_the_same_bytes_and_rows_as_jobs_1(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(5)
    for i in range(4):
        noise = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
        Image.fromarray(noise).save(src / f"n{i}.png")
    (src / "bad.png").write_bytes(b"nope")
    results = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        report = tmp_path / f"r{jobs}.jsonl"
        proc = kquant("compress", src, "-k", "16", "-o", out, "-j", jobs, "--report", report)
        assert proc.returncode == 1, proc.stderr  # bad.png
        files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        results[jobs] = (files, [(r["input"], r["status"], r.get("mse")) for r in rows])
    assert len(results["1"][0]) == 4
    assert results["1"] == results["2"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_finished_outputs_and_the_report(tmp_path, jobs):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(blocks(16, 16)).save(src / "a.png")  # quick
    rng = np.random.default_rng(0)
    for name in ("b.png", "c.png"):  # 40,000 colors into 256: a fit of about a second
        Image.fromarray(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(src / name)
    out = tmp_path / "out"
    report = tmp_path / "r.csv"
    proc = subprocess.Popen(
        [kquant_exe(), "compress", str(src), "-k", "256", "--n-init", "1", "-o", str(out),
         "-j", jobs, "--report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: report.exists() and "a.png" in report.read_text(), "a.png's row")
    proc.send_signal(signal.SIGINT)  # b.png is being fitted, c.png waits or too
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "kquant: interrupted"
    assert "1 ok, 0 skipped, 0 failed, 2 not done" in err  # and how to resume (issue 23)
    assert "the same command with --skip-existing resumes" in err
    assert sorted(p.name for p in out.iterdir()) == ["a-k256.png"]  # no temp, no partial
    assert list(_rows(report)) == ["a.png"]


def test_progress_bars_show_on_a_terminal_only(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(blocks(32, 32, seed=i)).save(src / f"{i}.png")
    # one image: test_cli_compress.py's bar over its stages; many: a bar over the
    # files, then the summary
    code, screen = run_kquant_on_terminal("compress", src, "-k", "4", "-o", tmp_path / "o",
                                          "-j", "1")  # fmt: skip
    assert (code == 0 and "image/s" in screen) or "s/image" in screen
    assert "3 ok, 0 skipped, 0 failed" in screen
    # not a terminal: no bar at all
    ran = kquant("compress", src, "-k", "4", "-o", tmp_path / "p", "-j", "1")
    assert ran.returncode == 0 and "image" not in ran.stderr.replace("images", "")
    assert ran.stderr.count("\r") == 0


def test_default_workers_follow_the_memory_left():
    from kquant.core.memory import workers_for
    from kquant.settings import CompressSettings

    plain = CompressSettings(dither="none")
    default, lab = CompressSettings(), CompressSettings(fit=FitOptions(space="lab"))
    gib = 2**30
    assert workers_for([100_000] * 10, plain, cores=4, available=8 * gib) == 4
    assert workers_for([100_000] * 3, plain, cores=8, available=None) == 3  # one per image
    scans = [100_000_000] * 10  # 100 MP scans: 1.0 GB each, 1.8 GB dithered, 6.6 GB with Lab
    assert workers_for(scans, plain, cores=8, available=4 * gib) == 4
    assert workers_for(scans, plain, cores=8, available=2 * gib) == 2
    assert workers_for(scans, default, cores=8, available=4 * gib) == 2
    assert workers_for(scans, lab, cores=8, available=4 * gib) == 1  # never fewer than one


def test_csv_cells_that_would_be_formulas_are_quoted(tmp_path, monkeypatch):
    """OWASP's advice against CSV injection (issue 21): a text cell starting with =, +,
    -, @ gets a leading quote in a CSV report; numbers and JSON rows stay exact."""
    from kquant.run.report import flat_row

    monkeypatch.chdir(tmp_path)
    for name in ("=1+1.png", "@SUM(A1).png", "plain.png"):
        Image.fromarray(blocks(16, 16)).save(tmp_path / name)
    ran = kquant("compress", "-j", "1", "=1+1.png", "@SUM(A1).png", "plain.png", "-k", "4",
                 "--report", "r.csv", "--json")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    with open(tmp_path / "r.csv", newline="") as fh:
        cells = [(r["input"], r["output"], r["mse"]) for r in csv.DictReader(fh)]
    assert [c[:2] for c in cells] == [("'=1+1.png", "'=1+1-k4.png"),
                                      ("'@SUM(A1).png", "'@SUM(A1)-k4.png"),
                                      ("plain.png", "plain-k4.png")]  # fmt: skip
    assert all(float(c[2]) >= 0 for c in cells)  # numbers as they are
    rows = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [r["input"] for r in rows] == ["=1+1.png", "@SUM(A1).png", "plain.png"]
    assert flat_row({"input": "-", "mse": -1.0}) == {"input": "'-", "mse": -1.0}
    assert flat_row({"error": "+x", "notes": ["-1"]}) == {"error": "'+x", "notes": "'-1"}


def test_workers_write_with_the_umask_of_the_run(tmp_path):
    """Workers come from a fork server that outlives a run in a long-lived process; a
    later run with another umask still writes its files with its own."""
    for i in range(2):
        Image.fromarray(blocks(16, 16, seed=i)).save(tmp_path / f"b{i}.png")
    old = os.umask(0o022)
    try:
        for mask in (0o022, 0o077):
            os.umask(mask)
            out = tmp_path / f"out{mask:o}"
            ran = kquant("compress", tmp_path / "b0.png", tmp_path / "b1.png", "-j", "2",
                         "-k", "4", "-o", f"{out}/")  # fmt: skip
            assert ran.returncode == 0, ran.stderr
            modes = {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
            assert modes == {0o666 & ~mask}, (oct(mask), modes)
    finally:
        os.umask(old)
