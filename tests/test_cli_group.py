"""The `kquant` group (kquant/cli/group.py): every command's help, version, hints in
other tools' words, one vocabulary across commands, stdin for analysis commands."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    kquant,
    smaller_sample,
)

import kquant as kq
from kquant.cli import cli

#: What compress, compare and sweep all report, under the same names (issue 23).
SHARED_KEYS = {"input", "method", "space", "dither", "dither_strength", "k", "seed",
               "colors_in", "colors_out", "mse", "psnr", "max_error", "bytes_in", "bytes_out",
               "seconds"}  # fmt: skip


def invoke(*args: str | Path) -> tuple[int, str, str]:
    ran = kquant(*args)
    return ran.returncode, ran.stdout, ran.stderr


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))


def test_analysis_commands_read_stdin_and_say_which_input(tmp_path):
    data = smaller_sample("coffee.png", tmp_path / "small", 4).read_bytes()  # the point: stdin
    ran = kquant("palette", "-", "-k", "4", "--json", input=data)
    assert ran.returncode == 0, ran.stderr
    assert [json.loads(line)["input"] for line in ran.stdout.splitlines()] == ["-"] * 4
    ran = kquant("compare", "-", "-k", "4", "--methods", "random", "--json",
                 "--save-dir", tmp_path, input=data)  # fmt: skip
    assert ran.returncode == 0 and json.loads(ran.stdout)["input"] == "-"
    assert (tmp_path / "stdin-k4-random.png").exists()
    ran = kquant("sweep", "-", "-k", "2,4", "--json", "--metric-sample", "100", input=data)
    *rows, summary = map(json.loads, ran.stdout.splitlines())
    assert ran.returncode == 0 and [r["input"] for r in rows] == ["-", "-"]
    assert summary["suggested"]["silhouette"] in (2, 4)
    photo = tmp_path / "small" / "coffee.png"
    ran = kquant("compare", photo, "-k", "4", "--methods", "kmeans,random", "--json")
    assert {json.loads(line)["input"] for line in ran.stdout.splitlines()} == {str(photo)}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["china.jpg", "-k", "64"], "kquant compress china.jpg -k 64"),
        (["compress", "x.jpg", "--quality", "60-80"], "--target-psnr"),
        (["compress", "x.jpg", "--ext", ".png"], "--name '{stem}.png'"),
        (["compress", "x.jpg", "-colors", "64"], "-k 64"),
        (["compress", "x.jpg", "--nofs"], "use --dither none"),
        (["compres", "a.png"], "did you mean 'compress'?"),  # issue 23: edit distance
        (["comapre", "a.png", "-k", "8"], "did you mean 'compare'?"),
        (["comp", "a.png"], "did you mean 'compare' or 'compress'?"),
        (["swep"], "did you mean 'sweep'?"),
        (["frobnicate"], "the commands are compare, compress, palette, server, sweep"),
    ],
)
def test_hints_in_the_words_of_pngquant_and_imagemagick_users(args, fragment):
    ran = kquant(*args)
    assert ran.returncode == 2 and fragment in ran.stderr and ran.stderr.count("\n") == 1


def test_help_and_version_as_words():
    """Issue 23: `kquant help`, `kquant help COMMAND` and `kquant version` work, as
    in git and cargo."""
    top, sub, version = kquant("help"), kquant("help", "sweep"), kquant("version")
    assert top.returncode == 0 and "Commands:" in top.stdout
    assert "99   below --min-psnr" in top.stdout
    assert sub.returncode == 0 and sub.stdout.startswith("Usage: kquant sweep")
    assert version.returncode == 0 and version.stdout.startswith("kquant, version ")
    for words in (["version", "--help"], ["version", "-h"], ["help", "version"],
                  ["help", "help"]):  # fmt: skip
        ran = kquant(*words)
        assert ran.returncode == 0 and ran.stdout.startswith(("kquant, version", "Usage:")), words
    every = kquant("sweep", "--help-all")  # every command takes --help-all
    assert every.returncode == 0 and "--metric-sample" in every.stdout


def test_one_vocabulary_across_commands(blocks_png, tmp_path):
    """The same name for the same thing in every command: --methods (or --method),
    --json and --csv, -q and -v; compress's JSON keys in compare's and sweep's rows."""
    rows = {}
    for command, extra in (("compress", ["-o", tmp_path / "o.png"]),
                           ("compare", ["--method", "kmeans,random"]),
                           ("sweep", ["-k", "4,8", "--methods", "kmeans", "--metric-sample", "50"]),
                           ("palette", [])):  # fmt: skip
        ran = kquant(command, blocks_png, "-k", "4", *extra, "--json", "-q", "--force")
        assert ran.returncode == 0 and ran.stderr == "", (command, ran.stderr)
        rows[command] = json.loads(ran.stdout.splitlines()[0])
        ran = kquant(command, blocks_png, "-k", "4", *extra, "--csv", "-q", "--force")
        table = list(csv.DictReader(ran.stdout.splitlines()))
        assert ran.returncode == 0 and table, (command, ran.stderr)
        assert table[0]["input"] == str(blocks_png)
        if command != "palette":
            assert float(table[0]["seconds_total"]) >= 0  # objects spread as <key>_<sub>
        both = kquant(command, blocks_png, *extra, "--json", "--csv")
        assert both.returncode == 2 and "--json and --csv" in both.stderr
        said = kquant(command, blocks_png, "-k", "4", *extra, "-v", "--force", "--json")
        assert said.returncode == 0 and "weighted" in said.stderr, command
    for command in ("compare", "sweep"):
        assert set(rows[command]) >= SHARED_KEYS, command
        assert set(rows[command]["seconds"]) <= set(rows["compress"]["seconds"])
        for key in ("method", "k", "colors_out", "bytes_out"):
            assert type(rows[command][key]) is type(rows["compress"][key]), (command, key)
    compress_csv = kquant("compress", blocks_png, "-o", tmp_path / "o.png", "--csv", "--force")
    from kquant.run.report import row_columns

    assert compress_csv.stdout.splitlines()[0].split(",") == row_columns()


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


def test_help_and_version_import_no_numpy_or_sklearn():
    code = (
        "import sys; from click.testing import CliRunner; from kquant.cli import cli; "
        "r = CliRunner().invoke(cli, ['compress', '--help']); assert r.exit_code == 0; "
        "r = CliRunner().invoke(cli, ['--version']); assert r.exit_code == 0; "
        "print(sorted(m for m in ('numpy', 'PIL', 'sklearn', 'scipy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
