"""Every option and argument of the ``kquant`` commands, declared once.

Defaults and limits come from :mod:`kquant.defaults`, so ``--help`` shows what the
library does; values are only parsed here (numbers, lists, words such as ``all``), and
the rules (ranges, combinations) are the library's: the commands build
:class:`kquant.settings.FitOptions` / :class:`~kquant.settings.CompressSettings` and
print the library's message if it refuses.

Shared options, and the commands that use them:

============================================  ========================================
``IMAGE`` (:data:`image_argument`)            compare, sweep
``IMAGE...`` (:data:`images_argument`)        palette
``-k/--colors`` (:func:`colors_option`)       compress, compare, palette
``--sample --init --n-init --max-iter --tol   compress, compare, palette, sweep
--space --seed --max-pixels``
(:func:`fit_options`; ``--method`` with
``method=True``)                              compress
``--dither --dither-strength``                compress, compare, sweep
(:data:`dither_options`)
``--metrics`` (:data:`look_options`)          compress, compare
``--target-psnr`` (:func:`target_psnr_option`) compress, sweep
``--max-mse`` (:data:`quality_target_options`) compress
``-f/--force`` (:data:`force_option`)         compress, compare, palette, sweep
``--json`` (:data:`json_option`)              compress, compare, palette, sweep
``INPUT... -r --include --exclude``           compress
(:data:`input_options`)
``-o --name --report --skip-existing          compress
--skip-if-larger --palette``
(:data:`output_options`)
``-j --cluster -q -n -v`` (:data:`run_options`) compress
``--keep-color`` (:data:`keep_color_option`)  compress, palette
``--html`` (:data:`html_option`)              compress, compare
``--weight`` (:data:`weight_option`)          compress, palette
``--shared-palette --export --first-frame     compress
--frame-palette`` (:data:`set_options`)
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
    DEFAULT_FRAME_PALETTE,
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
    DEFAULT_WEIGHT,
    DITHERS,
    FRAME_PALETTES,
    INITS,
    MAX_COLORS,
    MAX_OPTIMIZE,
    MAX_SEED,
    METHODS,
    METRICS_ALL,
    RUN_BUDGET,
    SPACES,
    STDIO,
    WEIGHTS,
    auto_n_init_words,
)

#: Context settings of every command: ``-h`` too, and wider help.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: The sections of ``--help``, in order.
INPUTS, OUTPUT, COLORS, REPORTING, TUNING, OTHER = (
    "Inputs", "Output", "Colors and quality", "Reporting", "k-means tuning", "Other options"
)  # fmt: skip
SECTIONS = (INPUTS, OUTPUT, COLORS, REPORTING, TUNING, OTHER)


class SectionOption(click.Option):
    """A click option that knows the section of ``--help`` it is listed in."""

    def __init__(self, *args: Any, section: str = OTHER, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section


def _run_budget(ctx: click.Context, param: click.Parameter, value: bool | None) -> float | None:
    """``--rate-aware``: :data:`kquant.defaults.RUN_BUDGET`; ``--no-rate-aware``: 0;
    neither: None, the library's choice (on for an undithered quality target)."""
    return None if value is None else RUN_BUDGET if value else 0.0


def option(section: str, *decls: str, **attrs: Any) -> Callable:
    """``click.option`` listed under ``section`` in ``--help``."""
    return click.option(*decls, cls=SectionOption, section=section, **attrs)


#: ``ctx.meta`` key: ``--help-all`` was asked for (every option, not the brief list).
HELP_ALL = "kquant.help_all"


class SectionedCommand(click.Command):
    """A command whose ``--help`` lists its options by section (:data:`SECTIONS`).

    With ``brief`` (parameter names), ``--help`` lists only those, the ones most runs
    need, and ``--help-all`` every option with the epilog's further examples; the
    brief help says how many options it left out.
    """

    def __init__(self, *args: Any, brief: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.brief = brief
        self.params.append(  # every command takes it, whether its --help is brief or not
            click.Option(
                ["--help-all"],
                is_flag=True,
                expose_value=False,
                is_eager=True,
                callback=_help_all,
                help="Show every option and more examples.",
            )
        )

    def _listed(self, ctx: click.Context, param: click.Parameter) -> bool:
        return (not self.brief or ctx.meta.get(HELP_ALL, False) or param.name in self.brief
                or param.name == "help_all" or param is self.get_help_option(ctx))  # fmt: skip

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        hidden = 0
        for param in self.get_params(ctx):
            if not isinstance(param, click.Option):
                continue
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if not self._listed(ctx, param):
                hidden += 1
                continue
            groups.setdefault(getattr(param, "section", OTHER), []).append(record)
        width = max(len(term) for records in groups.values() for term, _ in records)
        for name in SECTIONS:
            if name in groups:
                with formatter.section(name):
                    formatter.write_dl(groups[name], col_max=min(width, 30))
        if hidden:
            formatter.write_paragraph()
            formatter.write_text(f"{hidden} more options: {ctx.command_path} --help-all")

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not self.brief or ctx.meta.get(HELP_ALL, False):
            super().format_epilog(ctx, formatter)


def _help_all(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        ctx.meta[HELP_ALL] = True
        click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit()


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
    """Comma-separated measure names, or ``all`` (:data:`kquant.defaults.METRICS_ALL`);
    the library refuses unknown names."""

    name = "metrics"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        return METRICS_ALL if names == ["all"] else tuple(names)


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


#: ``ctx.meta`` key: ``-o`` was written ending in a path separator (``small/``), which
#: Path() drops: a folder, whatever the number of inputs.
OUTPUT_IS_FOLDER = "kquant.output_is_folder"


class OutputPath(click.Path):
    """A path that remembers, in ``ctx.meta[OUTPUT_IS_FOLDER]``, whether it was
    written ending in a separator (pathlib drops it)."""

    def convert(self, value, param, ctx):
        if ctx is not None and isinstance(value, str):
            ctx.meta[OUTPUT_IS_FOLDER] = value.endswith(("/", os.sep))
        return super().convert(value, param, ctx)


def _require_file(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if value is not None and str(value) != STDIO and not value.is_file():
        raise click.BadParameter(f"{value}: no such file", ctx=ctx, param=param)
    return value


#: The one image of compare, palette and sweep (``-``: standard input); a path that is
#: not a file exits 2.
image_argument = click.argument(
    "image", type=click.Path(path_type=Path, dir_okay=False), callback=_require_file
)


def _require_files(ctx: click.Context, param: click.Parameter, values: tuple) -> tuple:
    return tuple(_require_file(ctx, param, value) for value in values)


#: The images of ``palette``: one (``-``: standard input) or several, one palette over
#: all of them; a path that is not a file exits 2.
images_argument = click.argument(
    "images",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    callback=_require_files,
)


class ColorCount(click.ParamType):
    """One k (the library checks its range); a list or range points to ``sweep``."""

    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value)
        if "," in text or ".." in text:
            self.fail(f"{text!r}: one k here; to try several, kquant sweep IMAGE -k {text}",
                      param, ctx)  # fmt: skip
        try:
            return int(text.replace("_", ""))
        except ValueError:
            self.fail(f"{text!r} is not a number of colors", param, ctx)


def colors_option(default: int = DEFAULT_COLORS) -> Callable:
    """``-k/--colors``, for the commands that quantize at one k."""
    return option(
        COLORS,
        "-k",
        "--colors",
        "k",
        type=ColorCount(),
        default=default,
        show_default=True,
        metavar=f"1..{MAX_COLORS}",
        help="Number of colors (transparent pixels take one more).",
    )


_fit_option_list = [
    option(
        TUNING,
        "--sample",
        type=CountOrWord("all"),
        default=_none_word(DEFAULT_SAMPLE, "all"),
        show_default=True,
        help="Pixels to fit the palette on: all, or N drawn at random with --seed.",
    ),
    option(
        TUNING,
        "--init",
        type=click.Choice(INITS),
        default=DEFAULT_INIT,
        show_default=True,
        metavar="NAME",
        help="Initialisation of kmeans/minibatch: k-means++ or random.",
    ),
    option(
        TUNING,
        "--n-init",
        type=CountOrWord("auto"),
        default=_none_word(DEFAULT_N_INIT, "auto"),
        show_default=True,
        help=f"k-means restarts (the best is kept); auto: {auto_n_init_words()}.",
    ),
    option(
        TUNING,
        "--max-iter",
        type=int,
        metavar="N",
        default=DEFAULT_MAX_ITER,
        show_default=True,
        help="Maximum k-means iterations per run.",
    ),
    option(
        TUNING,
        "--tol",
        type=float,
        metavar="X",
        default=DEFAULT_TOL,
        show_default=True,
        help="k-means relative tolerance (scikit-learn's tol).",
    ),
    option(
        COLORS,
        "--space",
        type=click.Choice(SPACES),
        default=DEFAULT_SPACE,
        show_default=True,
        metavar="NAME",
        help="Fit and match in rgb (what MSE measures), lab or weighted.",
    ),
    option(
        TUNING,
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        show_default=True,
        metavar=f"0..{MAX_SEED}",
        help="Seed for sampling and initialisation; same seed, same bytes.",
    ),
    option(
        INPUTS,
        "--max-pixels",
        type=CountOrWord("none", zero_is_word=True),
        default=_none_word(DEFAULT_MAX_PIXELS, "none"),
        show_default=True,
        help="Refuse larger images (decompression bombs); none: no limit.",
    ),
]


def methods_option(default: str) -> Callable:
    """``--methods`` (or ``--method``: one name for commands that run several):
    comma-separated methods, compare and sweep."""
    return option(
        COLORS,
        "--methods",
        "--method",
        "methods",
        default=default,
        show_default=True,
        metavar="LIST",
        help=f"Comma-separated methods: {', '.join(METHODS)}.",
    )


_method_option = option(
    COLORS,
    "--method",
    type=click.Choice(METHODS),
    default=DEFAULT_METHOD,
    show_default=True,
    metavar="NAME",
    help="kmeans, minibatch (faster on huge images) or random (baseline).",
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


#: How the result is drawn: --dither --dither-strength.
dither_options = apply(
    [
        option(
            COLORS,
            "--dither",
            type=click.Choice(DITHERS),
            default=DEFAULT_DITHER,
            show_default=True,
            metavar="NAME",
            help=f"Error diffusion: {', '.join(DITHERS)}.",
        ),
        option(
            COLORS,
            "--dither-strength",
            type=float,
            default=DEFAULT_DITHER_STRENGTH,
            show_default=True,
            metavar="0..1",
            help="Share of each pixel's error diffused by --dither (0 = none).",
        ),
    ]
)

#: How the result is drawn and measured: --dither --dither-strength --metrics.
look_options = apply(
    [
        dither_options,
        option(
            REPORTING,
            "--metrics",
            type=MetricList(),
            default="",
            metavar="LIST",
            help="Add measures: deltae, ssim, deltae-blur, ssim-blur (seen from afar), "
            "all of these; ssimulacra2 (optional package).",
        ),
    ]
)


def target_psnr_option(help: str, default: float | None = None) -> Callable:
    """``--target-psnr DB``: compress aims at it, sweep suggests the k reaching it."""
    return option(COLORS, "--target-psnr", type=float, metavar="DB", help=help,
                  default=default, show_default=default is not None)  # fmt: skip


#: A quality target instead of a fixed k, and a floor: --target-psnr --max-mse --min-psnr.
quality_target_options = apply(
    [
        target_psnr_option("Fewest colors reaching this PSNR (exit 3 if -k misses it)."),
        option(
            COLORS,
            "--max-mse",
            type=float,
            metavar="X",
            help="Like --target-psnr, with an MSE ceiling.",
        ),
        option(
            COLORS,
            "--min-psnr",
            type=float,
            metavar="DB",
            help="Write nothing below this PSNR (exit 99).",
        ),
    ]
)

#: -f/--force, handed to the command as ``overwrite`` (the library's name).
force_option = option(
    OUTPUT, "-f", "--force", "overwrite", is_flag=True, help="Replace existing output files."
)

#: --json, handed to the command as ``as_json``.
json_option = option(
    REPORTING, "--json", "as_json", is_flag=True, help="Print JSON on stdout, one object per line."
)

#: --csv, handed to the command as ``as_csv``: the --json rows flattened
#: (:mod:`kquant.cli.rows`).
csv_option = option(
    REPORTING, "--csv", "as_csv", is_flag=True, help="Print CSV on stdout: a header, a row each."
)

#: -q/--quiet: nothing on stderr but errors (every command).
quiet_option = option(
    REPORTING, "-q", "--quiet", is_flag=True, help="Nothing on stderr but errors."
)


def verbose_option(help: str) -> Callable:
    """-v/--verbose: more on stderr (what more is the command's)."""
    return option(REPORTING, "-v", "--verbose", is_flag=True, help=help)


#: What compress takes: INPUT... -r --include --exclude.
input_options = apply(
    [
        click.argument("inputs", nargs=-1, metavar="INPUT..."),
        option(INPUTS, "-r", "--recursive", is_flag=True, help="Take images in subfolders too."),
        option(
            INPUTS,
            "--files-from",
            metavar="FILE",
            help="Inputs listed in FILE (- for stdin), a line each.",
        ),
        option(INPUTS, "-0", "--null", is_flag=True, help="--files-from is NUL-separated."),
        option(
            INPUTS,
            "--include",
            multiple=True,
            metavar="GLOB",
            help="Only files in folders whose name or path matches.",
        ),
        option(
            INPUTS,
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="Leave out files in folders whose name or path matches.",
        ),
    ]
)

#: Where compress writes, and what it leaves alone:
#: -o --name --report --skip-existing --skip-if-larger --palette.
output_options = apply(
    [
        option(
            OUTPUT,
            "-o",
            "--output",
            type=OutputPath(path_type=Path),
            help="Output file (its suffix picks the format) or folder (ends in /, exists, "
            "or many inputs; made as needed).",
        ),
        option(
            OUTPUT,
            "--name",
            "template",
            metavar="TEMPLATE",
            help="Name from {stem} {ext} {k} {method}.  "
            f"[default: {DEFAULT_TEMPLATE}, marked -rgb, -nodither...]",
        ),
        option(
            OUTPUT,
            "--skip-existing",
            is_flag=True,
            help="Leave inputs whose output exists (resume a run).",
        ),
        option(
            OUTPUT,
            "--skip-if-larger",
            is_flag=True,
            help="Write nothing unless smaller than the input.",
        ),
        option(
            OUTPUT,
            "-O",
            "--optimize",
            type=int,
            default=0,
            show_default=True,
            metavar=f"0..{MAX_OPTIMIZE}",
            help="Shrink PNGs with oxipng (2: 4-18% smaller).",
        ),
        option(
            OUTPUT,
            "--rate-aware/--no-rate-aware",
            "run_budget",
            default=None,
            callback=_run_budget,
            help="Undithered: continue runs where it costs little error (~5% smaller; "
            "15-25% with a quality target, where it is on by default).",
        ),
        option(
            OUTPUT,
            "--strip",
            is_flag=True,
            help="Write no metadata (by default the ICC profile and DPI are kept).",
        ),
        option(
            REPORTING,
            "--report",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Write a row per input to this .csv or .jsonl file.",
        ),
        option(
            COLORS,
            "--palette",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Map onto a .gpl/.json/.txt palette or an image's colors instead of fitting.",
        ),
    ]
)

#: How compress runs: -j --cluster -q -v.
run_options = apply(
    [
        option(
            OTHER,
            "-j",
            "--jobs",
            type=int,
            default=None,
            metavar="N",
            help="Worker processes.  [default: one per core, as memory allows]",
        ),
        option(
            OTHER,
            "--cluster",
            metavar="ADDRESS",
            envvar="KQUANT_CLUSTER",
            help="Run the jobs on this Dask scheduler (tcp://host:8786; needs pip install "
            "'kquant[cluster]' and paths the workers can see).  [env: KQUANT_CLUSTER]",
        ),
        quiet_option,
        option(
            REPORTING,
            "-n",
            "--dry-run",
            is_flag=True,
            help="Print the plan (INPUT -> OUTPUT); write nothing.",
        ),
        verbose_option("With many inputs, print each image's summary too."),
    ]
)


#: Colors kept exactly (compress, palette).
keep_color_option = option(
    COLORS,
    "--keep-color",
    "keep_colors",
    multiple=True,
    metavar="#RRGGBB|FILE",
    help="Keep this color exactly (repeatable, or a palette file); counts toward -k.",
)

#: How images weigh in a palette shared by a set (compress --shared-palette, palette).
weight_option = option(
    COLORS,
    "--weight",
    type=click.Choice(WEIGHTS),
    default=DEFAULT_WEIGHT,
    show_default=True,
    metavar="NAME",
    help="Weigh images in a shared palette by pixels, or equally (equal).",
)

#: Palettes over a set and over frames (compress):
#: --shared-palette --export --first-frame --frame-palette.
set_options = apply(
    [
        option(
            COLORS,
            "--shared-palette",
            is_flag=True,
            help="One palette fitted over all the inputs.",
        ),
        option(
            OUTPUT,
            "--export",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Where --shared-palette writes its palette.",
        ),
        option(
            COLORS,
            "--frame-palette",
            type=click.Choice(FRAME_PALETTES),
            default=DEFAULT_FRAME_PALETTE,
            metavar="MODE",
            help="Animations: shared (one palette, default) or per-frame.",
        ),
        option(
            COLORS,
            "--first-frame",
            is_flag=True,
            help="Animations: write the first frame only.",
        ),
    ]
)


#: A self-contained HTML page of the results (compress, compare).
html_option = option(
    REPORTING,
    "--html",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write an HTML page of the results, worst first.",
)
