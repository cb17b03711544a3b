"""The command-line reference, docs/reference.md, made from the commands' own help.

``python -m kquant.cli.reference > docs/reference.md`` (``make docs``) writes it; a
test fails when the file differs from what the commands say (as sqlite-utils checks
its reference with cog), so the help text is the one source of every option's
description, default and range.
"""

from __future__ import annotations

import click
from click.testing import CliRunner

__all__ = ["reference"]

#: The width the reference is rendered at (click's default for help).
WIDTH = 80

HEADER = """\
# kquant reference: every command's help

<!-- Made by `make docs` (python -m kquant.cli.reference) from the
commands' own help; tests/test_docs.py fails when it is out of date.
Edit the help, not this file. -->

Each command's `--help-all`: every option, its default and its range. How
to use them is in [cli.md](cli.md); the quick start is in the
[README](../README.md).
"""


def reference() -> str:
    """The reference as Markdown: ``kquant --help``, then each command's
    ``--help-all`` in a code block, in alphabetical order."""
    from kquant.cli.group import cli

    parts = [HEADER]
    for args, command in _commands(cli, []):
        title = " ".join(["kquant", *args])
        flag = "--help" if isinstance(command, click.Group) else "--help-all"
        parts.append(f"## `{title}`\n\n```text\n{_help(cli, args, flag)}```\n")
    return "\n".join(parts)


def _commands(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
    """``group`` and every command under it, in alphabetical order, depth first."""
    found: list[tuple[list[str], click.Command]] = [(path, group)]
    for name in sorted(group.commands):
        command = group.commands[name]
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            found += _commands(command, [*path, name])
        else:
            found.append(([*path, name], command))
    return found


def _help(group: click.Group, args: list[str], flag: str) -> str:
    result = CliRunner().invoke(group, [*args, flag], terminal_width=WIDTH, prog_name="kquant")
    if result.exit_code != 0:
        raise RuntimeError(f"kquant {' '.join(args)} {flag} failed: {result.output}")
    return result.output


if __name__ == "__main__":
    click.echo(reference(), nl=False)
