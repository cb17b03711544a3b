"""``kquant server start|stop|status``: the server that pays start-up once
(:mod:`kquant.server`). These commands always run in their own process."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from kquant.cli.exits import ExitCode
from kquant.cli.options import CONTEXT_SETTINGS, OTHER, REPORTING, SectionedCommand, option
from kquant.server.place import UnsafePlaceError

__all__ = ["server"]


def _server_errors(call: Callable[[Any], Any]) -> Any:
    """``call(control)``, its errors as one line. The control module (subprocess,
    socket, json) is imported here: ``kquant --version`` and every other command do
    not pay for it."""
    from kquant.server import control

    try:
        return call(control)
    except (UnsafePlaceError, control.ServerError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group(
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  KQUANT_SERVER=auto make -j2 images
  kquant server start
  for f in *.png; do kquant compress "$f" -k 64; done
  kquant server stop""",
)
def server() -> None:
    """Keep kquant's imports warm for many small calls.

    While this Python environment's server runs, each `kquant` call runs in a
    process forked from it, which has numpy, Pillow and scikit-learn imported
    already: a second less per call, with the same files, output, messages and exit
    code as without it. KQUANT_SERVER=auto starts one on first use instead (it exits
    after 15 idle minutes); KQUANT_SERVER=off never uses one.
    """


@server.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant server start
  kquant server start --idle 60""",
)
@option(OTHER, "--idle", type=click.FloatRange(min=0, min_open=True), metavar="MINUTES",
        help="Exit after this many minutes without a call (default: never).")  # fmt: skip
def start(idle: float | None) -> None:
    """Start this environment's server (nothing to do if one runs)."""
    info, started = _server_errors(lambda c: c.start(None if idle is None else idle * 60))
    verb = "started" if started else "already running"
    click.echo(f"kquant: server {verb} (pid {info['pid']}, {info['socket']})", err=True)


@server.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant server stop
  kquant server stop --all""",
)
@option(OTHER, "--all", "every", is_flag=True,
        help="Stop every kquant server of yours, of any environment or version.")  # fmt: skip
def stop(every: bool) -> None:
    """Stop this environment's server. The calls it is running go on to their end."""
    pids = _server_errors(lambda c: c.stop(every=every))
    if pids:
        click.echo(f"kquant: stopped the server (pid {', '.join(map(str, pids))})", err=True)
    else:
        click.echo("kquant: no server was running", err=True)


@server.command(
    cls=SectionedCommand,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant server status
  kquant server status --json""",
)
@option(REPORTING, "--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Say whether this environment's server runs (exit 0) or not (exit 1)."""
    info = _server_errors(lambda c: c.status())
    if as_json:
        click.echo(json.dumps({"running": info is not None, **(info or {})}))
    elif info is None:
        click.echo("not running")
    else:
        click.echo("\n".join(f"{key}: {value}" for key, value in info.items()))
    if info is None:
        ctx.exit(ExitCode.FAILED)
