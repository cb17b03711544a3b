"""Nothing a real-world file can do aborts a batch (issue 21): kquant over every file
of Pillow's own test images (``Tests/images`` of the installed Pillow's sources:
every mode and format, and the broken, hostile and fuzzer-found files Pillow has had
to handle), fetched by ``python tests/corpus.py fetch`` (``make test-corpus`` does, and runs
this file; ``.ci/run`` runs it as a step of its own) and cached outside the
repository.

1. One folder call, the real command as a process with ``-j 2``: it ends with the
   summary line, writes a report row for every file below the folder, and prints
   nothing but kquant's own lines (no traceback, no Python warning, no libtiff
   chatter), one line per failed image.
2. One in-process call (click's ``CliRunner``) per file the folder call reported as
   an error, per animated file and per file the folder walk passes over (not an
   image file name, so never tried by it): compress (and for animations GIF and WebP
   outputs and the palette; for failures palette, compare and sweep too), each with
   exit 0, 1 or 2, no traceback, one stderr line on failure, within
   :data:`corpus.SECONDS_PER_FILE`.

Both run in child processes under a 2 GB address-space limit
(:data:`corpus.MEMORY_LIMIT`), so a decoding bomb fails the test instead of the
machine.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import MEMORY_LIMIT, SECONDS_PER_FILE, corpus_folder, limit_memory
from helpers import kquant_exe

HERE = Path(__file__).resolve().parent

pytestmark = [
    pytest.mark.corpus,  # its own step: make test-corpus (in .ci/run), not make test
    pytest.mark.skipif(
        corpus_folder() is None,
        reason="Pillow's Tests/images are not cached: run `python tests/corpus.py fetch` "
        "(make test-corpus does)",
    ),
]


def _own_lines_only(stderr: str) -> list[str]:
    """stderr's lines, each checked to be one of kquant's own."""
    lines = stderr.splitlines()
    strays = [line for line in lines if not line.startswith("kquant: ")]
    assert not strays, f"lines kquant did not write: {strays[:5]}"
    return lines


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """The folder call: (process, report rows, files below the folder)."""
    images = corpus_folder()
    assert images is not None
    tmp = tmp_path_factory.mktemp("corpus")
    report = tmp / "report.csv"
    proc = subprocess.run(
        [kquant_exe(), "compress", "-r", str(images), "-o", str(tmp / "out"), "-k", "16",
         "--name", "{stem}-{ext}-k{k}.png", "--report", str(report), "-j", "2"],
        capture_output=True, text=True, timeout=600, preexec_fn=limit_memory,
    )  # fmt: skip
    with open(report, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    files = sorted(str(p) for p in images.rglob("*") if p.is_file())
    return proc, rows, files


def test_a_folder_call_over_the_corpus_ends_with_a_row_per_file(folder_run):
    proc, rows, files = folder_run
    assert proc.returncode == 1, proc.stderr[-2000:]  # some files are broken on purpose
    lines = _own_lines_only(proc.stderr)
    assert lines[-1].startswith("kquant: ") and " ok, " in lines[-1] and " failed" in lines[-1]
    assert sorted(row["input"] for row in rows) == files
    failed = [row for row in rows if row["status"] == "error"]
    ok = [row for row in rows if row["status"] == "ok"]
    assert len(ok) >= 640 and failed  # 656 of Pillow 13.0.0's: a good file refused shows here
    errors = [line for line in lines if line.startswith("kquant: error: ")]
    assert len(errors) == len(failed)  # one line per failure, no more
    for row in failed:  # every message names its file, in one line
        assert row["error"].lstrip("'").startswith(row["input"]), row
        assert "\n" not in row["error"]
    ok_line = f"{len(ok)} ok, "
    assert ok_line in lines[-1]


def test_every_odd_file_one_at_a_time(folder_run, tmp_path):
    """The files the folder call failed on, the animations and the files it passed
    over, each in its own in-process call: exit 0/1/2, no traceback, one line per
    failure, bounded time (memory is bounded by the child's limit)."""
    _, rows, _ = folder_run
    failed = [row["input"] for row in rows if row["status"] == "error"]
    passed_over = [row["input"] for row in rows if row["status"] == "skipped"]
    animated = [row["input"] for row in rows if row["status"] == "ok" and int(row["frames"]) > 1]
    files = sorted(set(failed + passed_over + animated))
    halves = [files[0::2], files[1::2]]  # two children: one per core
    procs = []
    for i, half in enumerate(halves):
        listing = tmp_path / f"list{i}.json"
        listing.write_text(json.dumps({"files": half, "failed": failed}))
        out = tmp_path / f"each{i}.jsonl"
        procs.append((out, subprocess.Popen(
            [sys.executable, str(HERE / "corpus.py"), "each", str(out), str(listing)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit_memory,
        )))  # fmt: skip
    calls = []
    for out, proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"the corpus runner died (memory over {MEMORY_LIMIT}?): {err}"
        calls += [json.loads(line) for line in out.read_text().splitlines()]
    assert {call["file"] for call in calls} == set(files)
    for call in calls:
        where = f"{' '.join(call['args'])}: {call['stderr'][-600:]}"
        assert call["traceback"] is None, f"{where}\n{call['traceback']}"
        assert call["exit"] in (0, 1, 2), where
        assert call["seconds"] < SECONDS_PER_FILE, where
        assert not call["c_stderr"], where  # libtiff's chatter kept from the user
        assert "Traceback" not in call["stderr"] and "Warning:" not in call["stderr"], where
        if call["exit"]:
            lines = call["stderr"].splitlines()
            assert len(lines) == 1 and lines[0].startswith("kquant: error: "), where
            assert not call["outputs"], where  # nothing written by a failed call
