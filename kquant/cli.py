"""The ``kquant`` command line: a thin layer over the library.

Exit codes (documented in the README):

- 0: success
- 1: the work failed (unreadable or corrupt input, image over the pixel limit,
  output exists, output folder missing or unwritable)
- 2: misuse (bad option value, missing input, output equal to the input, an output
  format that cannot hold the result)
- 130: interrupted (Ctrl-C); no partial output is left

Only click is imported at start-up; numpy, Pillow and scikit-learn are imported
when a command runs, so ``kquant --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kquant import __version__
from kquant.defaults import (
    DEFAULT_COLORS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_SAMPLE,
    DEFAULT_TEMPLATE,
    DITHERS,
    INITS,
    MAX_COLORS,
    METHODS,
    METRICS,
    SPACES,
    STDIO,
)


class CountOrWord(click.ParamType):
    """A positive whole number (``_`` separators allowed), or a word meaning None
    (``all`` pixels, ``none`` for no limit)."""

    def __init__(self, word: str, *, zero_is_word: bool = False) -> None:
        self.word = word
        self.name = f"N|{word}"
        self.none_values = {word, "0"} if zero_is_word else {word}

    def convert(self, value, param, ctx):
        if value is None or str(value).lower() in self.none_values:
            return None
        try:
            n = int(str(value).replace("_", ""))
        except ValueError:
            self.fail(f"{value!r} is neither a whole number nor {self.word!r}", param, ctx)
        if n < 1:
            self.fail(f"{n} is not a positive number", param, ctx)
        return n


if TYPE_CHECKING:
    from kquant.codebook import FitOptions


class MetricList(click.ParamType):
    """Comma-separated names from :data:`kquant.defaults.METRICS`, or ``all``."""

    name = "metrics"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        if names == ["all"]:
            return METRICS
        for name in names:
            if name not in METRICS:
                self.fail(f"{name!r} is not one of {', '.join(METRICS)}, all", param, ctx)
        return tuple(dict.fromkeys(names))


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant compress photo.jpg -k 64
  kquant compress logo.png -k 16 -o logo-small.png --json
  kquant compress --help""",
)
@click.version_option(__version__, "-V", "--version", prog_name="kquant")
def cli() -> None:
    """Reduce an image to k colors with k-means, and report exactly what it cost.

    Exit codes: 0 success, 1 failure (bad image, output exists, cannot write),
    2 misuse (bad option, missing input), 3 a quality target missed, 130
    interrupted.
    """


def _apply(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def colors_option(default: int = DEFAULT_COLORS):
    """``-k/--colors``, shared by the commands that quantize."""
    return click.option(
        "-k",
        "--colors",
        "k",
        type=click.IntRange(1, MAX_COLORS),
        default=default,
        show_default=True,
        help="Number of colors (visible colors; transparent pixels share one extra entry).",
    )


#: How the palette is fitted and which images are read, shared by the commands that
#: quantize: --sample --init --n-init --max-iter --tol --space --seed --max-pixels.
_fit_option_list = _apply(
    [
        click.option(
            "--sample",
            type=CountOrWord("all"),
            default="all" if DEFAULT_SAMPLE is None else str(DEFAULT_SAMPLE),
            show_default=True,
            help="Pixels to fit the palette on: 'all', or a number drawn at random with --seed "
            "(the fit works on the color histogram, so 'all' costs little more).",
        ),
        click.option(
            "--init",
            type=click.Choice(INITS),
            default="k-means++",
            show_default=True,
            help="Initialisation of kmeans/minibatch.",
        ),
        click.option(
            "--n-init",
            type=CountOrWord("auto"),
            default="auto",
            show_default=True,
            help="k-means runs with different seeds on the coarse level; the best is kept. "
            "auto: 8 for k <= 16, 4 to 32, 2 to 64, else 1.",
        ),
        click.option(
            "--max-iter",
            type=click.IntRange(1),
            default=300,
            show_default=True,
            help="Maximum k-means iterations per run.",
        ),
        click.option(
            "--tol",
            type=click.FloatRange(0),
            default=1e-4,
            show_default=True,
            help="k-means convergence tolerance (scikit-learn's relative tol).",
        ),
        click.option(
            "--space",
            type=click.Choice(SPACES),
            default="rgb",
            show_default=True,
            help="Color space the palette is fitted and matched in: rgb (what MSE measures) "
            "or lab (CIELAB, closer to the eye: lower deltaE, higher MSE).",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed for sampling and initialisation; same seed, same bytes.",
        ),
        click.option(
            "--max-pixels",
            type=CountOrWord("none", zero_is_word=True),
            default=str(DEFAULT_MAX_PIXELS),
            show_default=True,
            help="Refuse larger images (decompression-bomb guard, Pillow's limit); "
            "'none' for no limit.",
        ),
    ]
)


_FIT_FIELDS = ("sample", "init", "n_init", "max_iter", "tol", "space", "seed")


def fit_options(f):
    """Add the fit options, and hand the command one ``options`` FitOptions built
    from them (plus ``max_pixels`` as it is)."""

    @functools.wraps(f)
    def command(**kwargs):
        from kquant.codebook import FitOptions

        fields = {name: kwargs.pop(name) for name in _FIT_FIELDS}
        try:
            kwargs["options"] = FitOptions(**fields)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        return f(**kwargs)

    return _fit_option_list(command)


#: How the result is drawn and measured, shared by compress and compare:
#: --dither --dither-strength --metrics.
look_options = _apply(
    [
        click.option(
            "--dither",
            type=click.Choice(DITHERS),
            default="none",
            show_default=True,
            help="Floyd-Steinberg error diffusion: fewer bands in gradients, higher MSE. "
            "Off by default so the report's MSE means the nearest-color error.",
        ),
        click.option(
            "--dither-strength",
            type=click.FloatRange(0, 1),
            default=1.0,
            show_default=True,
            metavar="0..1",
            help="Share of each pixel's error diffused by --dither (0 = none).",
        ),
        click.option(
            "--metrics",
            type=MetricList(),
            default="",
            metavar="LIST",
            help="Perceptual measures to add, comma-separated: deltae (mean CIEDE2000), "
            "ssim, deltae-blur and ssim-blur (of both images blurred by a 1 px Gaussian, as "
            "seen from a distance, where dithering pays off), or all. MSE and PSNR are "
            "always given.",
        ),
    ]
)


@contextlib.contextmanager
def library_errors():
    """Turn the library's errors into click's: misuse exits 2, failures exit 1."""
    from kquant.errors import KquantError, UsageError

    try:
        yield
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except KquantError as exc:
        raise click.ClickException(str(exc)) from None


def require_file(path: Path, hint: str = "IMAGE") -> None:
    """Refuse (exit 2) a path that is not an existing file."""
    if not path.is_file():
        raise click.BadParameter(f"{path}: no such file", param_hint=hint)


@cli.command(
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  kquant compress photo.jpg -k 64                 # writes photo-k64.png
  kquant compress photo.jpg -k 16 -o small.gif
  kquant compress scan.tif -k 8 --method random   # the baseline, to compare
  kquant compress photo.jpg --json | jq .psnr
  kquant compress -r photos/ -o small/ --report run.csv   # a whole tree
  kquant compress 'shots/*.png' --name '{stem}.{ext}' -o out/ --skip-existing
  kquant compress -r photos/ -o small/ -j 2 -q     # two worker processes
  kquant compress photo.jpg --target-psnr 40       # fewest colors reaching 40 dB
  kquant compress -r frames/ -o out/ --palette brand.gpl   # one palette for all""",
)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@colors_option()
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Output file for one input (its suffix picks the format: .png .gif .webp .jpg "
    ".tif .bmp), or the folder for many: the input tree is mirrored under it. "
    "[default: beside each input]",
)
@click.option(
    "--name",
    "template",
    default=DEFAULT_TEMPLATE,
    show_default=True,
    help="Output file name for folders and many inputs: {stem}, {ext} (input suffix), "
    "{k}, {method}. The suffix picks the format.",
)
@click.option("-r", "--recursive", is_flag=True, help="Take images in subfolders too.")
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Only files in folders whose name or relative path matches (repeatable).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out files in folders whose name or relative path matches.",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Leave inputs whose output exists untouched (resume a run).",
)
@click.option(
    "--skip-if-larger",
    is_flag=True,
    help="Write nothing when the result is not smaller than the input.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write one row per input to this .csv or .jsonl file, with its status.",
)
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.option(
    "--palette",
    "palette_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Map onto the colors of this .gpl, .json or .txt palette, or of an image, "
    "instead of fitting.",
)
@look_options
@click.option(
    "--target-psnr",
    type=click.FloatRange(0, min_open=True),
    metavar="DB",
    help="Use the smallest k up to -k whose result reaches this PSNR (exit 3 if "
    "even -k misses it; the image is still written).",
)
@click.option(
    "--max-mse",
    type=click.FloatRange(0),
    metavar="X",
    help="Like --target-psnr, with an MSE ceiling instead.",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="kmeans",
    show_default=True,
    help="kmeans: scikit-learn KMeans. minibatch: MiniBatchKMeans, for huge inputs. "
    "random: k random pixels as the palette (baseline).",
)
@fit_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image on stdout.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1),
    default=os.cpu_count() or 1,
    show_default="number of cores",
    help="Worker processes for many images (each with one BLAS/OpenMP thread).",
)
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr; errors only.")
@click.option(
    "-v", "--verbose", is_flag=True, help="With many inputs, print each image's summary too."
)
def compress(
    inputs: tuple[str, ...],
    k: int,
    output: Path | None,
    template: str,
    recursive: bool,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    skip_existing: bool,
    skip_if_larger: bool,
    report_path: Path | None,
    force: bool,
    palette_file: Path | None,
    dither: str,
    dither_strength: float,
    metrics: tuple[str, ...],
    target_psnr: float | None,
    max_mse: float | None,
    method: str,
    options: FitOptions,
    max_pixels: int | None,
    as_json: bool,
    jobs: int,
    quiet: bool,
    verbose: bool,
) -> None:
    """Quantize each INPUT to at most K colors and write it, with a report.

    INPUT is an image file, a folder (its images; -r for subfolders too), or a glob
    pattern in quotes. The palette is fitted with k-means on the image's colors;
    every pixel then takes its exact nearest palette color. PNG, GIF, TIFF and BMP
    are written as indexed images holding exactly the palette. A summary (colors,
    MSE, PSNR, max error, bytes, seconds) goes to stderr; --json prints the same as
    JSON on stdout, one line per image.

    Existing files are never replaced without --force; each output is written to a
    temporary file and renamed, so an interrupted run leaves nothing half-written.
    With many inputs a bad file is reported and the others are still done; the exit
    code is then 1.
    """
    from kquant.batch import ReportWriter, expand_inputs, plan_jobs
    from kquant.errors import UsageError

    with library_errors():
        options = dataclasses.replace(options, method=method)
        if target_psnr is not None and max_mse is not None:
            raise UsageError("give --target-psnr or --max-mse, not both")
        palette = None
        if palette_file is not None:
            if target_psnr is not None or max_mse is not None:
                raise UsageError("--palette fixes the colors: it does not go with a target")
            from kquant.palettes import read_palette

            palette = read_palette(palette_file)
        found = expand_inputs(list(inputs), recursive=recursive, include=include, exclude=exclude)
        if not found.items:
            raise UsageError(f"no images found in {', '.join(inputs)}")
        planned = plan_jobs(
            found.items, output=output, batch=found.batch, k=k, method=method, template=template
        )
        if as_json and output is not None and str(output) == STDIO:
            raise UsageError("--json cannot share standard output with the image (-o -)")
        writer = ReportWriter(report_path) if report_path else None
    from kquant.runner import Runner

    run = Runner(
        batch=found.batch,
        quiet=quiet,
        verbose=verbose,
        as_json=as_json,
        writer=writer,
        ignored=found.skipped,
        jobs=jobs,
    )
    try:
        run.all(
            planned,
            k=k,
            options=options,
            max_pixels=max_pixels,
            force=force,
            skip_existing=skip_existing,
            skip_if_larger=skip_if_larger,
            target_psnr=target_psnr,
            max_mse=max_mse,
            palette=palette,
            dither=dither,
            dither_strength=dither_strength,
            metrics=metrics,
        )
    finally:
        if writer:
            writer.close()
    if run.failed:
        click.get_current_context().exit(1)
    if run.missed:
        click.get_current_context().exit(3)


#: Raised by click >= 8.2 for a group run without arguments.
_NO_ARGS_IS_HELP: type[Exception] | tuple = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, print any error as one line on stderr, and exit.

    The process ends with ``os._exit`` once stdout and stderr are flushed: tearing
    down an interpreter that has loaded scikit-learn and scipy takes about 0.3 s
    and does nothing a finished run needs (every output file is closed by then).
    """
    _exit(_run(argv))


def _run(argv: list[str] | None) -> int:
    try:
        code = cli.main(args=argv, prog_name="kquant", standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:  # bare `kquant`: the help, as click would show it
        click.echo(exc.format_message(), err=True)
        return exc.exit_code
    except click.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"kquant: error: {exc.format_message()}{where}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"kquant: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("kquant: interrupted", err=True)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`): stop quietly.
        return 1
    return code if isinstance(code, int) else 0


def _exit(code: int) -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


# The analysis commands (compare, palette, sweep) live in their own module and
# register themselves on `cli`; imported last, since they use what is defined here.
from kquant import cli_analysis  # noqa: E402, F401
