"""The ``kquant`` group: its commands, registered explicitly, and :func:`main`.

Exit codes: :class:`kquant.cli.exits.ExitCode`, which ``kquant --help``, the
README's table and the tests read.

Every error is printed as one line, ``kquant: error: ...``, by :class:`KquantGroup`
itself, so ``CliRunner`` tests see what users see. Only click and the light
:mod:`kquant.defaults` are imported at start-up; numpy, Pillow and scikit-learn are
imported when a command runs, so ``kquant --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any, NoReturn

import click

from kquant import __version__
from kquant.cli.analysis import compare, palette, sweep
from kquant.cli.compress import compress
from kquant.cli.errors import misuse_hint, one_line
from kquant.cli.exits import ExitCode, exit_codes_in_words
from kquant.cli.options import CONTEXT_SETTINGS
from kquant.cli.server import server

__all__ = ["KquantGroup", "cli", "main", "run"]

#: Raised by click >= 8.2 for a group run without arguments.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


class KquantGroup(click.Group):
    """A click group that prints every error as one line and returns kquant's exit
    codes, whether it runs as the ``kquant`` command or under ``CliRunner``."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        """Run the command line; with ``standalone_mode`` exit with its code (as
        click does), else return it."""
        argv = [str(a) for a in (sys.argv[1:] if args is None else args)]
        code = self._run(argv, complete_var, extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, argv: list[str], complete_var: str | None, extra: dict) -> int:
        if argv[:1] == ["help"]:  # `kquant help [COMMAND]`, as git and cargo take it
            named = argv[1:2] if argv[1:2] not in (["help"], ["version"]) else []
            argv = [*named, "--help"]
        elif argv[:1] == ["version"]:  # `kquant version`, also with --help
            argv = ["--version"]
        try:
            code = super().main(argv, "kquant", complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # bare `kquant`: the help, as click would show it
            click.echo(exc.format_message(), err=True)
            return exc.exit_code
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            message = misuse_hint(exc, argv, dict(self.commands)) or exc.format_message()
            click.echo(f"kquant: error: {one_line(message)}{where}", err=True)
            return exc.exit_code
        except click.ClickException as exc:
            click.echo(f"kquant: error: {one_line(exc.format_message())}", err=True)
            return exc.exit_code
        except click.Abort as exc:
            signum = getattr(exc.__cause__, "signum", signal.SIGINT)
            if signum == signal.SIGINT:
                click.echo("kquant: interrupted", err=True)
            else:
                click.echo(f"kquant: stopped by {signal.Signals(signum).name}", err=True)
            return 128 + signum
        except BrokenPipeError:
            # The reader of stdout went away (e.g. `| head`): stop quietly.
            return ExitCode.FAILED
        except OSError as exc:  # stdout or stderr went away or filled up (--json > /dev/full)
            with contextlib.suppress(OSError):
                click.echo(f"kquant: error: cannot write the output: {exc.strerror or exc}",
                           err=True)  # fmt: skip
            return ExitCode.FAILED
        return code if isinstance(code, int) else 0


@click.group(
    cls=KquantGroup,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant compress photo.jpg -k 64
  kquant compress logo.png -k 16 -o logo-small.png --json
  kquant compress --help""",
)
@click.version_option(__version__, "-V", "--version", prog_name="kquant")
def cli() -> None:
    pass


cli.help = f"""Reduce an image to k colors with k-means, and report exactly what it cost.

`kquant help COMMAND` and `kquant version` work too; the reference is docs/cli.md in
the source.

\b
Exit codes:
{exit_codes_in_words()}
"""


for _command in (compress, compare, palette, sweep, server):
    cli.add_command(_command)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C (temporary files removed, finished work
    reported, workers stopped); ``signum`` gives the exit code, 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: Any) -> None:
    signal.signal(signum, signal.SIG_IGN)  # once: the clean-up is under way
    raise Stopped(signum)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the command line (:func:`run`) and end the process with its
    exit code.

    The process ends with ``os._exit`` once stdout and stderr are flushed: tearing
    down an interpreter that has loaded scikit-learn and scipy takes about 0.3 s
    and does nothing a finished run needs (every output file is closed by then).
    """
    os._exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run the command line, print any error as one line on stderr, flush stdout and
    stderr, and return the exit code: what ``kquant`` does, in its own process or in
    a kquant server's child (:mod:`kquant.server`).

    SIGTERM and SIGHUP stop the run as Ctrl-C does, with exit code 143 or 129,
    unless kquant was started with them ignored (``nohup``, a shell script's
    background job ignores SIGINT): an ignored signal stays ignored, in the workers
    too.
    """
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _stop)
    return _flushed(cli.main(argv, standalone_mode=False))


def _flushed(code: int) -> int:
    try:
        if sys.stdout is not None:  # None when kquant was started with stdout closed (>&-)
            sys.stdout.flush()
    except BrokenPipeError:
        code = code or 1
    except OSError as exc:
        with contextlib.suppress(OSError):
            click.echo(f"kquant: error: cannot write the output: {exc.strerror or exc}", err=True)
        code = code or 1
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()
    return code
