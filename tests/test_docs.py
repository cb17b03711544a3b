"""The README and docs/ say what kquant does: every ``kquant`` command line they show
parses with today's options (issue 23), the README's quick start runs for real on a
sample photo, and the Python examples run."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import SAMPLES
from PIL import Image

import kquant as kq
from kquant.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
#: Words after which ``kquant`` starts a command: find -exec, xargs, parallel, loops.
RUNNERS = ("-exec", "xargs", "parallel", "do", "-P2", "-n1")
#: Shell words that end a command (pipes, lists, redirections).
ENDS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "\\;", ")"}


def _shell_lines(text: str) -> list[str]:
    """The lines of the ``sh`` blocks, continuation lines joined, and the inline code
    spans that start with ``kquant ``."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        lines += block.replace("\\\n", " ").splitlines()
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    lines += [span for span in re.findall(r"`([^`\n]+)`", prose) if span.startswith("kquant ")]
    return lines


def kquant_commands(text: str) -> list[list[str]]:
    """Every ``kquant ...`` command in ``text``, as argument lists (without ``kquant``)."""
    commands = []
    for line in _shell_lines(text):
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>()")
        lexer.whitespace_split, lexer.commenters = True, "#"
        try:
            words = list(lexer)
        except ValueError:  # a here-document or an unbalanced quote: not a command line
            continue
        for i, word in enumerate(words):
            if word == "kquant" and (i == 0 or words[i - 1] in ENDS or words[i - 1] in RUNNERS):
                args = []
                for arg in words[i + 1 :]:
                    if arg in ENDS or arg == ";":
                        break
                    args.append(arg)
                commands.append(args)
    return commands


#: Command lines the docs show on purpose as mistakes kquant answers with a hint.
MISTAKES = {"photo.jpg"}


def _placeholder(word: str) -> bool:
    """``IN``, ``K``, ``COMMAND``, ``A``, ``...``: a word standing for what you type."""
    return word == "..." or re.fullmatch(r"[A-Z][A-Z_]*", word) is not None


def _all_commands() -> list[tuple[str, list[str]]]:
    """Every command line shown, but for templates (``kquant COMMAND --help``, with
    placeholders) and a command's bare name in prose (``kquant palette``)."""
    found = []
    for doc in DOCS:
        for args in kquant_commands(doc.read_text()):
            words = len(args) > 1 or args[:1] in (["help"], ["version"], ["--help"])
            if words and not any(_placeholder(a) for a in args):
                found.append((f"{doc.name}: kquant {' '.join(args)}", args))
    return found


COMMANDS = _all_commands()


def _make_inputs(args: list[str], where: Path) -> list[str]:
    """Files for the words that name inputs (``photo.jpg``, ``photos/``, ``{}``,
    ``"$f"``), made in ``where`` from a small sample image; the words as given."""
    small = np.asarray(Image.open(SAMPLES / "china.jpg").convert("RGB"))[::8, ::8]
    out = []
    for arg in args:
        if arg in ("{}", "$f") or arg.startswith("$"):
            arg = "photo.jpg"
        if "*" in arg and not arg.startswith("-") and "/" in arg and args[0] == "palette":
            arg = arg.replace("**/", "").replace("*", "x")  # as the shell expands it
        path = Path(arg)
        if not arg.startswith(("-", "/", "#", "http")) and "*" not in arg and ".." not in arg:
            target = where / path
            if arg.endswith("/") or (not path.suffix and "{" not in arg and "/" in arg):
                target.mkdir(parents=True, exist_ok=True)
                Image.fromarray(small).save(target / "x.png")
            elif path.suffix.lower() in (".jpg", ".png", ".gif", ".webp") and "{" not in arg:
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(small).save(target)
        out.append(arg)
    return out


def test_the_docs_show_commands():
    names = {args[0] for _, args in COMMANDS if args}
    assert {"compress", "compare", "sweep", "palette", "help", "version"} <= names
    assert len(COMMANDS) > 60


@pytest.mark.parametrize("shown, args", COMMANDS, ids=[shown for shown, _ in COMMANDS])
def test_every_command_shown_parses(shown, args, tmp_path, monkeypatch):
    """Each command line, parsed by the command it names with its files made: the
    options exist, their values convert, the arguments are right. Nothing runs."""
    monkeypatch.chdir(tmp_path)
    args = _make_inputs(args, tmp_path)
    if args[0] in MISTAKES:
        ran = CliRunner().invoke(cli, args)
        assert ran.exit_code == 2 and "kquant compress" in ran.output, ran.output
        return
    if not args or args[0] in ("help", "version", "-V", "--version", "--help", "-h"):
        ran = CliRunner().invoke(cli, args or ["--help"])  # the words main() takes
        assert ran.exit_code == 0 or args[0] in ("help", "version"), ran.output
        return
    group = click.Context(cli, info_name="kquant")
    command = cli.get_command(group, args[0])
    assert command is not None, shown
    try:
        command.make_context(args[0], args[1:], parent=group)
    except click.exceptions.Exit:  # --help, --help-all
        pass
    except click.UsageError as exc:
        pytest.fail(f"{shown}: {exc.format_message()}")


def _quick_start() -> list[list[str]]:
    section = README.read_text().split("## Quick start")[1].split("\n## ")[0]
    commands = ("compress", "compare", "sweep", "palette")
    return [args for args in kquant_commands(section) if args[0] in commands]


def test_the_readme_quick_start_runs(tmp_path, monkeypatch):
    """The README's first commands, as written, on a small photo named as they name it:
    each exits 0 and writes what it says."""
    monkeypatch.chdir(tmp_path)
    commands = _quick_start()
    assert len(commands) >= 9
    small = np.asarray(Image.open(SAMPLES / "china.jpg").convert("RGB"))[::8, ::8]
    Image.fromarray(small).save(tmp_path / "photo.jpg", quality=90)
    for args in commands:
        shutil.rmtree(tmp_path / "photos", ignore_errors=True)
        if "photos/" in args:
            (tmp_path / "photos" / "trip").mkdir(parents=True)
            # one photo: a folder of several would start worker processes, tested elsewhere
            shutil.copy(tmp_path / "photo.jpg", tmp_path / "photos" / "trip" / "0.jpg")
        args = [a.replace("2..256", "2..16") for a in args]  # the same command, fewer k
        ran = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert ran.exit_code == 0, (args, ran.output)
    assert (tmp_path / "photo-k64.png").exists() and (tmp_path / "small" / "photo-k64.png").exists()
    assert (tmp_path / "small.gif").exists() and (tmp_path / "cmp.png").exists()
    assert (tmp_path / "curves.png").exists()
    assert sorted(p.name for p in (tmp_path / "small" / "trip").iterdir()) == ["0-k64.png"]


def _python_blocks(doc: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", doc.read_text(), re.DOTALL)


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python example, as written, on a sample image copied under the
    names it uses (docs/library.md's: tests/test_layers.py)."""
    doc = README
    small = kq.load_image(SAMPLES / "china.jpg").pixels[::4, ::4]
    for name in ("photo.jpg", "a.jpg", "b.jpg"):
        Image.fromarray(small).save(tmp_path / name, quality=95)
    (tmp_path / "b.png").write_bytes(b"replaced by the example")
    monkeypatch.chdir(tmp_path)
    blocks = _python_blocks(doc)
    assert blocks
    exec(compile(blocks[0], doc.name, "exec"), {})
    with Image.open(tmp_path / "photo-k64.png") as im:
        assert im.mode == "P"
    used = set(re.findall(r"\bkquant\.([A-Za-z_]+)\(", doc.read_text()))
    assert used and used <= set(kq.__all__), used - set(kq.__all__)


def test_the_readme_is_a_readme_and_docs_hold_the_reference():
    """Issue 23: the README was a 753-line manual with its first command at line 67.
    Now at most 250 lines, the first kquant command in its first 40, and every option
    of every command documented in docs/cli.md."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 250
    assert next(i for i, line in enumerate(lines) if line.startswith("kquant ")) < 40
    reference = (ROOT / "docs" / "cli.md").read_text()
    group = click.Context(cli, info_name="kquant")
    for name in ("compress", "compare", "palette", "sweep"):
        for param in cli.get_command(group, name).params:
            if isinstance(param, click.Option) and param.name not in ("help", "help_all"):
                assert any(f"`{flag}" in reference for flag in param.opts), (name, param.opts)


def test_every_exit_code_is_listed_in_help_and_readme():
    """Every ExitCode, in `kquant --help` and in the README's table (99 was missing
    from both), and in docs/cli.md's."""
    from kquant.cli.exits import MEANINGS, ExitCode

    assert {int(c) for c in ExitCode} >= {0, 1, 2, 3, 99, 130, 143, 129}
    assert set(MEANINGS) == set(ExitCode)
    text = " ".join(CliRunner().invoke(cli, ["--help"]).output.split())
    readme = README.read_text().split("## Exit codes")[1].split("\n## ")[0]
    reference = (ROOT / "docs" / "cli.md").read_text().split("## Exit codes")[1]
    for code in ExitCode:
        assert f"{int(code)} {MEANINGS[code]}" in text, code
        for table in (readme, reference):
            assert re.search(rf"^\| [\d, ]*\b{int(code)}\b", table, re.MULTILINE), code


def test_facts_the_docs_repeat_come_from_the_code():
    """The --n-init auto rule drifted (help and a comment said "1 from 128"; the code
    gave 1 from 65): the help and docs/cli.md now say kquant.defaults' words, and the
    words say what auto_n_init does."""
    from kquant.core.codebook import auto_n_init
    from kquant.defaults import AUTO_N_INIT, auto_n_init_words

    words = auto_n_init_words()
    assert words in (ROOT / "docs" / "cli.md").read_text()
    shown = " ".join(CliRunner().invoke(cli, ["compress", "--help-all"]).output.split())
    assert words in shown
    for most, n in AUTO_N_INIT:
        assert auto_n_init(most) == n and auto_n_init(most + 1) < n


def test_the_reference_is_made_from_the_commands():
    """docs/reference.md is what `make docs` writes from the commands' own help
    (sqlite-utils checks its reference with cog the same way): an option added,
    renamed, re-described or given another default without `make docs` fails here,
    and so do the help's examples and exit codes."""
    from kquant.cli.reference import reference

    written = (ROOT / "docs" / "reference.md").read_text()
    assert written == reference(), "docs/reference.md is out of date: run make docs"
    assert "--dither-strength 0..1" in written and "Exit codes:" in written
