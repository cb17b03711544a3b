"""Every option and argument of the ``kquant`` commands, declared once.

Defaults and limits come from :mod:`kquant.defaults`, so ``--help`` shows what the
library does; values are only parsed here (numbers, lists, words such as ``all``), and
the rules (ranges, combinations) are the library's: the commands build
:class:`kquant.settings.FitOptions` / :class:`~kquant.settings.CompressSettings` and
print the library's message if it refuses.

Shared options, and the commands that use them:

============================================  ========================================
``IMAGE`` (:data:`image_argument`)            compare, palette, sweep
``-k/--colors`` (:func:`colors_option`)       compress, compare, palette
``--sample --init --n-init --max-iter --tol   compress, compare, palette, sweep
--space --seed --max-pixels``
(:func:`fit_options`; ``--method`` with
``method=True``)                              compress
``--dither --dither-strength --metrics``      compress, compare
(:data:`look_options`)
``--target-psnr`` (:func:`target_psnr_option`) compress, sweep
``--max-mse`` (:data:`quality_target_options`) compress
``-f/--force`` (:data:`force_option`)         compress, compare, palette, sweep
``--json`` (:data:`json_option`)              compress, compare, palette, sweep
``INPUT... -r --include --exclude``           compress
(:data:`input_options`)
``-o --name --report --skip-existing          compress
--skip-if-larger --palette``
(:data:`output_options`)
``-j -q -v`` (:data:`run_options`)            compress
============================================  ========================================
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kquant.cli.errors import library_errors
from kquant.defaults import (
    DEFAULT_COLORS,
    DEFAULT_DITHER,
    DEFAULT_DITHER_STRENGTH,
    DEFAULT_INIT,
    DEFAULT_MAX_ITER,
    DEFAULT_MAX_PIXELS,
    DEFAULT_METHOD,
    DEFAULT_N_INIT,
    DEFAULT_SAMPLE,
    DEFAULT_SEED,
    DEFAULT_SPACE,
    DEFAULT_TEMPLATE,
    DEFAULT_TOL,
    DITHERS,
    INITS,
    MAX_COLORS,
    MAX_SEED,
    METHOD_TEMPLATE,
    METHODS,
    METRICS,
    SPACES,
    STDIO,
)

#: Context settings of every command: ``-h`` too, and wider help.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CountOrWord(click.ParamType):
    """A whole number (``_`` separators allowed), or a word meaning None (``all``
    pixels, ``none`` for no limit, ``auto``); the library checks the range."""

    def __init__(self, word: str, *, zero_is_word: bool = False) -> None:
        self.word = word
        self.name = f"N|{word}"
        self.none_values = {word, "0"} if zero_is_word else {word}

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() in self.none_values:
            return None
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            self.fail(f"{value!r} is neither a whole number nor {self.word!r}", param, ctx)


class MetricList(click.ParamType):
    """Comma-separated measure names, or ``all`` (:data:`kquant.defaults.METRICS`);
    the library refuses unknown names."""

    name = "metrics"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        return METRICS if names == ["all"] else tuple(names)


def _none_word(value: Any, word: str) -> str:
    """How a None default shows in ``--help``."""
    return word if value is None else str(value)


def apply(options: list[Callable]) -> Callable:
    """One decorator applying ``options`` in the order listed (top to bottom in
    ``--help``)."""

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def _require_file(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if value is not None and str(value) != STDIO and not value.is_file():
        raise click.BadParameter(f"{value}: no such file", ctx=ctx, param=param)
    return value


#: The one image of compare, palette and sweep (``-``: standard input); a path that is
#: not a file exits 2.
image_argument = click.argument(
    "image", type=click.Path(path_type=Path, dir_okay=False), callback=_require_file
)


def colors_option(default: int = DEFAULT_COLORS) -> Callable:
    """``-k/--colors``, for the commands that quantize at one k."""
    return click.option(
        "-k",
        "--colors",
        "k",
        type=int,
        default=default,
        show_default=True,
        metavar=f"1..{MAX_COLORS}",
        help="Number of colors (visible colors; transparent pixels share one extra entry).",
    )


_fit_option_list = [
    click.option(
        "--sample",
        type=CountOrWord("all"),
        default=_none_word(DEFAULT_SAMPLE, "all"),
        show_default=True,
        help="Pixels to fit the palette on: 'all', or a number drawn at random with --seed "
        "(the fit works on the color histogram, so 'all' costs little more).",
    ),
    click.option(
        "--init",
        type=click.Choice(INITS),
        default=DEFAULT_INIT,
        show_default=True,
        help="Initialisation of kmeans/minibatch.",
    ),
    click.option(
        "--n-init",
        type=CountOrWord("auto"),
        default=_none_word(DEFAULT_N_INIT, "auto"),
        show_default=True,
        help="k-means runs with different seeds on the coarse level; the best is kept. "
        "auto: 8 for k <= 16, 4 to 32, 2 to 64, else 1.",
    ),
    click.option(
        "--max-iter",
        type=int,
        default=DEFAULT_MAX_ITER,
        show_default=True,
        help="Maximum k-means iterations per run.",
    ),
    click.option(
        "--tol",
        type=float,
        default=DEFAULT_TOL,
        show_default=True,
        help="k-means convergence tolerance (scikit-learn's relative tol).",
    ),
    click.option(
        "--space",
        type=click.Choice(SPACES),
        default=DEFAULT_SPACE,
        show_default=True,
        help="Color space the palette is fitted and matched in: rgb (what MSE measures) "
        "or lab (CIELAB, closer to the eye: lower deltaE, higher MSE).",
    ),
    click.option(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        show_default=True,
        metavar=f"0..{MAX_SEED}",
        help="Seed for sampling and initialisation; same seed, same bytes.",
    ),
    click.option(
        "--max-pixels",
        type=CountOrWord("none", zero_is_word=True),
        default=_none_word(DEFAULT_MAX_PIXELS, "none"),
        show_default=True,
        help="Refuse larger images (decompression-bomb guard, Pillow's limit); "
        "'none' for no limit.",
    ),
]

_method_option = click.option(
    "--method",
    type=click.Choice(METHODS),
    default=DEFAULT_METHOD,
    show_default=True,
    help="kmeans: scikit-learn KMeans. minibatch: MiniBatchKMeans, for huge inputs. "
    "random: k random pixels as the palette (baseline).",
)

#: The click parameters that are FitOptions fields (the rest of fit_options' list is
#: ``max_pixels``, which is handed on as it is).
_FIT_FIELDS = ("method", "sample", "init", "n_init", "max_iter", "tol", "space", "seed")


def fit_options(f: Callable | None = None, *, method: bool = False) -> Callable:
    """Add the fit options (and ``--method`` with ``method=True``), and hand the
    command one ``fit`` :class:`kquant.settings.FitOptions` built from them, plus
    ``max_pixels`` as it is."""

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def command(**kwargs):
            from kquant.settings import FitOptions

            fields = {name: kwargs.pop(name) for name in _FIT_FIELDS if name in kwargs}
            with library_errors():
                kwargs["fit"] = FitOptions(**fields)
            return f(**kwargs)

        return apply(([_method_option] if method else []) + _fit_option_list)(command)

    return decorate if f is None else decorate(f)


#: How the result is drawn and measured: --dither --dither-strength --metrics.
look_options = apply(
    [
        click.option(
            "--dither",
            type=click.Choice(DITHERS),
            default=DEFAULT_DITHER,
            show_default=True,
            help="Floyd-Steinberg error diffusion: fewer bands in gradients, higher MSE. "
            "Off by default so the report's MSE means the nearest-color error.",
        ),
        click.option(
            "--dither-strength",
            type=float,
            default=DEFAULT_DITHER_STRENGTH,
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


def target_psnr_option(help: str) -> Callable:
    """``--target-psnr DB``: compress aims at it, sweep suggests the k reaching it."""
    return click.option("--target-psnr", type=float, metavar="DB", help=help)


#: A quality target instead of a fixed k: --target-psnr --max-mse.
quality_target_options = apply(
    [
        target_psnr_option(
            "Use the smallest k up to -k whose result reaches this PSNR (exit 3 if "
            "even -k misses it; the image is still written)."
        ),
        click.option(
            "--max-mse",
            type=float,
            metavar="X",
            help="Like --target-psnr, with an MSE ceiling instead.",
        ),
    ]
)

#: -f/--force, handed to the command as ``overwrite`` (the library's name).
force_option = click.option(
    "-f", "--force", "overwrite", is_flag=True, help="Replace existing output files."
)

#: --json, handed to the command as ``as_json``.
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON on stdout, one object per line."
)

#: What compress takes: INPUT... -r --include --exclude.
input_options = apply(
    [
        click.argument("inputs", nargs=-1, required=True, metavar="INPUT..."),
        click.option("-r", "--recursive", is_flag=True, help="Take images in subfolders too."),
        click.option(
            "--include",
            multiple=True,
            metavar="GLOB",
            help="Only files in folders whose name or relative path matches (repeatable).",
        ),
        click.option(
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="Leave out files in folders whose name or relative path matches.",
        ),
    ]
)

#: Where compress writes, and what it leaves alone:
#: -o --name --report --skip-existing --skip-if-larger --palette.
output_options = apply(
    [
        click.option(
            "-o",
            "--output",
            type=click.Path(path_type=Path),
            help="Output file for one input (its suffix picks the format: .png .gif .webp .jpg "
            ".tif .bmp), or the folder for many: the input tree is mirrored under it. "
            "[default: beside each input]",
        ),
        click.option(
            "--name",
            "template",
            metavar="TEMPLATE",
            help="Output file name: {stem}, {ext} (input suffix), {k} (colors: -k, the "
            "palette's size, or the k a target chose), {method}. The suffix picks the "
            f"format. [default: {DEFAULT_TEMPLATE}; {METHOD_TEMPLATE} for other methods]",
        ),
        click.option(
            "--skip-existing",
            is_flag=True,
            help="Leave inputs whose output exists untouched (resume a run).",
        ),
        click.option(
            "--skip-if-larger",
            is_flag=True,
            help="Write nothing when the result is not smaller than the input.",
        ),
        click.option(
            "--report",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Write one row per input to this .csv or .jsonl file, with its status.",
        ),
        click.option(
            "--palette",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Map onto the colors of this .gpl, .json or .txt palette, or of an image, "
            "instead of fitting.",
        ),
    ]
)

#: How compress runs: -j -q -v.
run_options = apply(
    [
        click.option(
            "-j",
            "--jobs",
            type=click.IntRange(1),
            default=os.cpu_count() or 1,
            show_default="number of cores",
            help="Worker processes for many images (each with one BLAS/OpenMP thread).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No summary on stderr; errors only."),
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            help="With many inputs, print each image's summary too.",
        ),
    ]
)
