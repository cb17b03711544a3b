"""How the command line says what went wrong: the library's errors as click's, with
the command's own option names, and the advice added to some of them.

Exit codes: :class:`kquant.errors.UsageError` (misuse) exits 2 as a
:class:`click.UsageError`; every other :class:`kquant.errors.KquantError` (the work
failed) exits 1 as a :class:`click.ClickException`.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterable, Iterator

import click

from kquant.defaults import IMAGE_SUFFIXES

__all__ = [
    "FOREIGN_OPTIONS",
    "HINTS",
    "library_errors",
    "misuse_hint",
    "one_line",
    "show_warnings",
    "usage_message",
    "with_hint",
]

#: Advice the command line adds to a library error, by error class name, with the
#: option it names.
HINTS = {
    "OutputExistsError": ("--force", "use --force to replace it"),
    "ImageTooLargeError": ("--max-pixels", "raise the limit with --max-pixels"),
}


def one_line(message: str) -> str:
    """``message`` on one line: a newline or carriage return in it (a file name can
    hold them) shown as ``\\n``/``\\r``, so every error stays one line on stderr."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def with_hint(message: str, error_type: str | None) -> str:
    """``message`` with the advice for ``error_type``, unless it names the option."""
    flag, hint = HINTS.get(error_type or "", ("", ""))
    return f"{message} ({hint})" if hint and flag not in message else message


def usage_message(message: str, params: tuple[str, ...]) -> str:
    """``message`` in the current command's words for the library parameters
    ``params``: each setting the message quotes (```export``` writes the palette of
    ```shared_palette```) becomes its option's longest name (``--export writes the
    palette of --shared-palette``); a message that quotes none is prefixed with the
    options (``-k/--colors: k must be ...``); as it is when no option matches."""
    ctx = click.get_current_context(silent=True)
    options = {
        param.name: param.opts
        for param in (ctx.command.params if ctx else [])
        if isinstance(param, click.Option)
    }
    quoted = [name for name in params if f"`{name}`" in message and name in options]
    for name in quoted:
        message = message.replace(f"`{name}`", max(options[name], key=len))
    flags = ["/".join(options[name]) for name in params if name in options]
    return message if quoted or not flags else f"{', '.join(flags)}: {message}"


@contextlib.contextmanager
def library_errors(subject: object = None) -> Iterator[None]:
    """Turn the library's errors into click's: misuse exits 2, failures exit 1.

    With ``subject`` (the image a command works on), the block is that image's work
    (:func:`kquant.errors.per_image`): an exception kquant did not foresee is one
    line naming it, exit 1 (``KQUANT_DEBUG=1``: the traceback), and warnings about the
    file are printed once the block succeeds, one ``kquant: warning:`` line each.
    """
    from kquant.errors import KquantError, UsageError, per_image

    try:
        with per_image(
            "kquant" if subject is None else subject,
            warnings_too=subject is not None,
            passing=(click.ClickException, click.Abort),
        ) as heard:
            yield
    except UsageError as exc:
        raise click.UsageError(usage_message(str(exc), exc.params)) from None
    except KquantError as exc:
        raise click.ClickException(with_hint(str(exc), type(exc).__name__)) from None
    except MemoryError:
        where = "" if subject is None else f"{subject}: "
        raise click.ClickException(f"{where}not enough memory") from None
    show_warnings(f"{subject}: {line}" for line in heard)


def show_warnings(lines: Iterable[str]) -> None:
    """Warnings about files, one ``kquant: warning:`` line each on stderr."""
    for line in lines:
        click.echo(f"kquant: warning: {line}", err=True)


#: Options that pngquant and ImageMagick users type, with kquant's way to say it.
FOREIGN_OPTIONS = {
    "--quality": "kquant has no --quality (pngquant's); for a quality target use "
    "--target-psnr DB or --max-mse X",
    "-quality": "for a quality target use --target-psnr DB or --max-mse X",
    "--ext": "name the outputs with --name, e.g. --name '{stem}.png'",
    "-colors": "the number of colors is -k, e.g. -k 64",
    "--nofs": "use --dither none (Floyd-Steinberg is the default)",
    "--floyd": "Floyd-Steinberg is the default (--dither-strength 0..1 scales it)",
    "--ordered": "kquant dithers by error diffusion: --dither floyd-steinberg",
    "-dither": "use --dither floyd-steinberg",
    "--map": "map onto a palette with --palette FILE (.gpl, .json, .txt or an image)",
    "-remap": "map onto a palette with --palette FILE (.gpl, .json, .txt or an image)",
    "--speed": "kquant has no speed setting; --method minibatch is faster on huge images",
}


def misuse_hint(exc: click.UsageError, argv: list[str], commands: dict) -> str | None:
    """A one-line hint in the words of pngquant and ImageMagick users for a command
    line click refused: an option of theirs (``--quality``, ``-colors``), or an image
    given without a command (``kquant photo.jpg``)."""
    import shlex

    if isinstance(exc, click.NoSuchOption):
        for token in argv:
            hint = FOREIGN_OPTIONS.get(token.split("=", 1)[0])
            if hint:
                return f"no such option {token.split('=', 1)[0]}: {hint}"
        return None
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None or first in commands or "No such command" not in exc.message:
        return None
    if os.path.isfile(first) or os.path.splitext(first)[1].lower() in IMAGE_SUFFIXES:
        return (f"no command {first!r}; to compress an image: "
                f"kquant compress {shlex.join(argv)}")  # fmt: skip
    names = sorted(commands)
    starting = [name for name in names if name.startswith(first)]
    if len(starting) > 1:  # `kquant comp`: compare or compress
        return f"no command {first!r}; did you mean {' or '.join(map(repr, starting))}?"
    close = difflib.get_close_matches(first, [*names, "help", "version"], n=1, cutoff=0.6)
    if close:
        return f"no command {first!r}; did you mean {close[0]!r}?"
    return f"no command {first!r}; the commands are {', '.join(names)}"
