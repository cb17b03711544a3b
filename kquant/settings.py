"""Settings, built and checked once: how to fit a palette, and everything a compress job needs.

:class:`FitOptions` says how a palette is fitted (``quantize``, ``compare``,
``palette``, ``sweep``); :class:`CompressSettings` adds what ``compress`` does with one
file (k, a fixed palette or a quality target, dithering, measures, limits, what may be
replaced). Both are frozen and picklable: the command line builds one and hands the
same object to the runner, its worker processes and :func:`kquant.compress_file`.

Every rule is checked here, when the object is built, and broken with a
:class:`kquant.errors.UsageError` naming the parameters at fault, so library callers
and the command line get the same rules and the same messages, before any work.

The module imports nothing heavy (no numpy), so the command line can build settings
before it loads the image libraries.

>>> CompressSettings(k=16, target_psnr=35).fit.method
'kmeans'
>>> CompressSettings(k=16, target_psnr=35, max_mse=20)
Traceback (most recent call last):
...
kquant.errors.UsageError: give a PSNR target or an MSE ceiling, not both
>>> CompressSettings().replace(k=8, seed=3).fit.seed
3
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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
    DEFAULT_TOL,
    DITHERS,
    FRAME_PALETTES,
    INITS,
    MAX_COLORS,
    MAX_OPTIMIZE,
    MAX_SEED,
    METHODS,
    METRICS,
    RUN_BUDGET,
    SPACES,
)
from kquant.errors import UsageError

__all__ = [
    "CompressSettings",
    "FitOptions",
    "Method",
    "check_choice",
    "check_colors",
    "check_dither",
    "check_methods",
    "check_metrics",
    "check_target_psnr",
]

Method = Literal["kmeans", "minibatch", "random"]


def check_choice(name: str, value: str, choices: tuple[str, ...], what: str) -> None:
    """Refuse ``value`` of parameter ``name`` unless it is one of ``choices``."""
    if value not in choices:
        raise UsageError(
            f"unknown {what} {value!r}; choose from {', '.join(choices)}", params=(name,)
        )


def check_colors(k: int) -> None:
    """Refuse a number of colors outside 1..:data:`kquant.defaults.MAX_COLORS`."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_COLORS:
        raise UsageError(f"k must be between 1 and {MAX_COLORS}, got {k!r}", params=("k",))


def check_run_budget(budget: float, strength: float) -> None:
    """Refuse a run budget that is negative or not finite, or given with dithering
    (``strength``, the share of error diffused, above 0)."""
    if not (budget >= 0 and math.isfinite(budget)):
        raise UsageError(f"`run_budget` must be a finite number >= 0, got {budget}",
                         params=("run_budget",))  # fmt: skip
    if budget > 0 and strength > 0:
        raise UsageError("`run_budget` applies to undithered mapping: add `dither` none",
                         params=("run_budget", "dither"))  # fmt: skip


def check_dither(dither: str, strength: float) -> None:
    """Refuse a dithering method or strength that :func:`kquant.quantize` does not take."""
    check_choice("dither", dither, DITHERS, "dither")
    if not 0.0 <= strength <= 1.0:  # also refuses NaN
        raise UsageError(
            f"dither strength must be between 0 and 1, got {strength}",
            params=("dither_strength",),
        )


def check_metrics(names: Any) -> tuple[str, ...]:
    """The perceptual measures ``names`` without repeats; refuse unknown ones."""
    names = tuple(dict.fromkeys(names))
    for name in names:
        if name not in METRICS:
            raise UsageError(f"{name!r} is not one of {', '.join(METRICS)}, all",
                             params=("metrics",))  # fmt: skip
    if "ssimulacra2" in names and importlib.util.find_spec("ssimulacra2") is None:
        raise UsageError("ssimulacra2 needs the ssimulacra2 package: "
                         "pip install 'kquant[ssimulacra2]' (or ssimulacra2)",
                         params=("metrics",))  # fmt: skip
    return names


def check_target_psnr(target_psnr: float | None, name: str = "target_psnr") -> None:
    """Refuse a PSNR (a target, a minimum) that is not a finite number of dB above 0."""
    if target_psnr is not None and not (target_psnr > 0 and math.isfinite(target_psnr)):
        what = "target PSNR" if name == "target_psnr" else "minimum PSNR"
        raise UsageError(
            f"{what} must be a finite number of dB above 0, got {target_psnr}",
            params=(name,),
        )


@dataclass(frozen=True)
class FitOptions:
    """How to fit a codebook.

    Attributes
    ----------
    method : {"kmeans", "minibatch", "random"}
        ``kmeans``: scikit-learn ``KMeans``. ``minibatch``: ``MiniBatchKMeans``.
        ``random``: k pixels drawn at random from the image (the classic baseline).
    init : {"k-means++", "random"}
        Initialisation of the k-means methods.
    n_init : int or None
        Number of k-means runs with different seeds on the coarsest level; the best
        (lowest inertia) wins. None ("auto"): :func:`kquant.core.codebook.auto_n_init` of k.
    max_iter : int
        Maximum Lloyd iterations per run (epochs over the data for ``minibatch``).
    tol : float
        scikit-learn's relative convergence tolerance.
    seed : int
        Seed of every random choice, 0 to 2**32 - 1; the same seed gives the same
        palette.
    sample : int or None
        Pixels to fit on, drawn at random with ``seed``; None fits on every pixel.
        Ignored by ``random`` (which draws k pixels).
    space : {"rgb", "lab", "weighted"}
        The space colors are clustered and matched in (:mod:`kquant.core.spaces`).

    Raises
    ------
    kquant.errors.UsageError
        For a value out of range, naming the field in ``params``.
    """

    method: Method = DEFAULT_METHOD  # type: ignore[assignment]
    init: str = DEFAULT_INIT
    n_init: int | None = DEFAULT_N_INIT
    max_iter: int = DEFAULT_MAX_ITER
    tol: float = DEFAULT_TOL
    seed: int = DEFAULT_SEED
    sample: int | None = DEFAULT_SAMPLE
    space: str = DEFAULT_SPACE

    def __post_init__(self) -> None:
        check_choice("space", self.space, SPACES, "color space")
        check_choice("method", self.method, METHODS, "method")
        check_choice("init", self.init, INITS, "init")
        if self.n_init is not None and self.n_init < 1:
            raise UsageError(f"n_init must be at least 1, got {self.n_init}", params=("n_init",))
        if self.max_iter < 1:
            raise UsageError(
                f"max_iter must be at least 1, got {self.max_iter}", params=("max_iter",)
            )
        if not (self.tol >= 0 and math.isfinite(self.tol)):
            raise UsageError(f"tol must be a finite number >= 0, got {self.tol}", params=("tol",))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"seed must be a whole number, got {self.seed!r}", params=("seed",))
        if not 0 <= self.seed <= MAX_SEED:
            raise UsageError(
                f"seed must be between 0 and {MAX_SEED}, got {self.seed}", params=("seed",)
            )
        if self.sample is not None and self.sample < 1:
            raise UsageError(
                f"sample must be a positive number of pixels or None, got {self.sample}",
                params=("sample",),
            )


#: A palette as settings hold it: RGB triples of 0-255 ints.
Palette = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class CompressSettings:
    """Everything :func:`kquant.compress_file` needs besides the input and output.

    Attributes
    ----------
    k : int
        Number of colors, 1 to 65536; with a quality target, the largest k tried.
    fit : FitOptions
        How the palette is fitted.
    palette : tuple of (r, g, b) or None
        Map onto these colors instead of fitting (any (P, 3) array-like of 0-255
        values is accepted and kept as a tuple of distinct int triples, in order).
    target_psnr, max_mse : float or None
        A quality target instead of a fixed k: the smallest k up to ``k`` reaching
        this PSNR (dB, > 0) or this MSE (>= 0). At most one; not with ``palette``.
    min_psnr : float or None
        Write nothing if the result's PSNR is below this (dB, > 0; at most
        ``target_psnr``), like pngquant's ``--quality min``: the report says so and
        the command line exits 99, so a script can keep the original.
    dither : {"none", "floyd-steinberg", "adaptive"}
    dither_strength : float in [0, 1]
    run_budget : float >= 0 or None
        Undithered stills: a pixel takes its left neighbour's row where that adds at
        most this to its squared error, so runs continue and the PNG is smaller
        (:func:`kquant.core.runs.continue_runs`; the command line's
        ``--rate-aware`` sets :data:`kquant.defaults.RUN_BUDGET`). 0: off. None (the
        default): :data:`~kquant.defaults.RUN_BUDGET` for an undithered quality
        target, whose search keeps the target exact (15-25% fewer bytes at 35-38 dB,
        docs/BENCHMARKS.md), else off; :attr:`runs` is the budget used.
    metrics : tuple of str
        Perceptual measures for the report, from :data:`kquant.defaults.METRICS`.
    max_pixels : int or None
        Decompression-bomb limit; None for no limit.
    overwrite : bool
        Replace an existing output (the input included).
    skip_if_larger : bool
        Write nothing when the result is not smaller than the input file.
    strip : bool
        Write no metadata: by default the ICC profile and the physical resolution
        (DPI) of the input are kept where the output format holds them.
    optimize : int, 0 to 6
        PNG outputs: run the oxipng optimizer at this level (0: not at all; 2 is
        oxipng's default), losslessly, before the file is written.
    keep_colors : tuple of (r, g, b)
        Colors that must be in the palette exactly (brand colors, pure white):
        they count toward ``k`` (at most ``k`` of them), the others are fitted
        around them, and pixels of exactly these colors keep them. With
        ``palette``, added to it.
    whole_palette : bool
        Write ``palette`` whole and in its order in every output (unused rows too),
        so a set of images shares it index for index (``--shared-palette``).
    frame_palette : {"shared", "per-frame"}
        Animations: one palette fitted on all frames together (no flicker), or
        one per frame (GIF local color tables; WebP). See :mod:`kquant.io.animation`.
    first_frame : bool
        Animations: quantize and write the first frame only.

    Raises
    ------
    kquant.errors.UsageError
        For a value out of range or settings that contradict each other.
    """

    k: int = DEFAULT_COLORS
    fit: FitOptions = field(default_factory=FitOptions)
    palette: Palette | None = None
    target_psnr: float | None = None
    max_mse: float | None = None
    min_psnr: float | None = None
    dither: str = DEFAULT_DITHER
    dither_strength: float = DEFAULT_DITHER_STRENGTH
    run_budget: float | None = None
    metrics: tuple[str, ...] = ()
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    overwrite: bool = False
    skip_if_larger: bool = False
    strip: bool = False
    optimize: int = 0
    keep_colors: Palette = ()
    whole_palette: bool = False
    frame_palette: str = DEFAULT_FRAME_PALETTE
    first_frame: bool = False

    def __post_init__(self) -> None:
        check_colors(self.k)
        if not isinstance(self.fit, FitOptions):
            raise UsageError(f"fit must be FitOptions, got {type(self.fit).__name__}",
                             params=("fit",))  # fmt: skip
        check_dither(self.dither, self.dither_strength)
        if self.run_budget is not None:
            check_run_budget(self.run_budget, self.strength)
        object.__setattr__(self, "metrics", check_metrics(self.metrics))
        check_target_psnr(self.target_psnr)
        check_target_psnr(self.min_psnr, "min_psnr")
        if (
            self.min_psnr is not None
            and self.target_psnr is not None
            and self.min_psnr > self.target_psnr
        ):
            raise UsageError(
                f"the minimum PSNR {self.min_psnr:g} is above the target {self.target_psnr:g}",
                params=("min_psnr",),
            )
        if self.max_mse is not None and not (self.max_mse >= 0 and math.isfinite(self.max_mse)):
            raise UsageError(
                f"MSE ceiling must be a finite number >= 0, got {self.max_mse}",
                params=("max_mse",),
            )
        if self.target_psnr is not None and self.max_mse is not None:
            raise UsageError(
                "give a PSNR target or an MSE ceiling, not both",
                params=("target_psnr", "max_mse"),
            )
        if self.min_psnr is not None and self.max_mse:  # MSE 0 is lossless: any minimum holds
            ceiling_psnr = 10 * math.log10(255**2 / self.max_mse)
            if self.min_psnr > ceiling_psnr:
                raise UsageError(
                    f"the minimum PSNR {self.min_psnr:g} is above the PSNR of the MSE ceiling "
                    f"{self.max_mse:g} ({ceiling_psnr:.2f} dB): lower --min-psnr or --max-mse",
                    params=("min_psnr",),
                )
        if self.palette is not None:
            object.__setattr__(self, "palette", _as_palette(self.palette))
            if self.has_target:
                raise UsageError(
                    "a given palette fixes the colors: it does not go with a quality target",
                    params=("palette",),
                )
        if self.keep_colors is not None and len(self.keep_colors):
            keep = _as_palette(self.keep_colors, "keep_colors")
            object.__setattr__(self, "keep_colors", keep)
            if self.palette is None and len(keep) > self.k:
                raise UsageError(
                    f"{len(keep)} kept colors do not fit in k={self.k}", params=("keep_colors",)
                )
        else:
            object.__setattr__(self, "keep_colors", ())
        if self.whole_palette and self.palette is None:
            raise UsageError("a whole palette needs a palette", params=("whole_palette",))
        check_choice("frame_palette", self.frame_palette, FRAME_PALETTES, "frame palette")
        if isinstance(self.optimize, bool) or self.optimize not in range(MAX_OPTIMIZE + 1):
            raise UsageError(
                f"optimize level must be 0 to {MAX_OPTIMIZE}, got {self.optimize!r}",
                params=("optimize",),
            )
        if self.max_pixels is not None and self.max_pixels < 1:
            raise UsageError(
                f"max_pixels must be a positive number or None, got {self.max_pixels}",
                params=("max_pixels",),
            )

    @property
    def name_marks(self) -> tuple[str, ...]:
        """What default output names add for these settings
        (:func:`kquant.run.naming.name_marks`)."""
        from kquant.run.naming import name_marks

        return name_marks(space=self.fit.space, dither=self.dither,
                          strength=self.dither_strength, seed=self.fit.seed,
                          runs=self.runs > 0)  # fmt: skip

    @property
    def runs(self) -> float:
        """The run budget used: ``run_budget``, or for None
        :data:`kquant.defaults.RUN_BUDGET` with a quality target and no dithering, else
        0."""
        if self.run_budget is not None:
            return self.run_budget
        return RUN_BUDGET if self.has_target and self.strength == 0 else 0.0

    @property
    def strength(self) -> float:
        """The share of error diffused: ``dither_strength``, 0 with ``dither="none"``."""
        return self.dither_strength if self.dither != "none" else 0.0

    def meets_minimum(self, psnr: float | None) -> bool | None:
        """Whether a result of ``psnr`` dB (None: lossless) may be written under
        ``min_psnr``; None when there is no minimum."""
        if self.min_psnr is None:
            return None
        return psnr is None or psnr >= self.min_psnr

    @property
    def has_target(self) -> bool:
        """Whether k is searched for a quality target."""
        return self.target_psnr is not None or self.max_mse is not None

    def replace(self, **changes: Any) -> CompressSettings:
        """A copy with ``changes``, which may also name :class:`FitOptions` fields
        (``seed=1``, ``method="random"``); checked like a new object.

        Raises
        ------
        TypeError
            For a name that is neither a field of these settings nor of FitOptions.
        """
        if not changes:  # already checked when built
            return self
        fit_names = {f.name for f in dataclasses.fields(FitOptions)}
        fit_changes = {name: changes.pop(name) for name in list(changes) if name in fit_names}
        if fit_changes:
            changes["fit"] = dataclasses.replace(changes.get("fit", self.fit), **fit_changes)
        return dataclasses.replace(self, **changes)


def _as_palette(colors: Any, name: str = "palette") -> Palette:
    """(P, 3) array-like of 0-255 values as a tuple of int triples."""
    if hasattr(colors, "tolist"):  # a numpy array, without importing numpy here
        colors = colors.tolist()
    try:
        rows = tuple(tuple(int(v) for v in row) for row in colors)
    except (TypeError, ValueError):
        rows = ()
    if not rows or any(len(row) != 3 or not all(0 <= v <= 255 for v in row) for row in rows):
        raise UsageError(
            f"{name} must be a non-empty list of (r, g, b) colors with 0-255 values",
            params=(name,),
        )
    return tuple(dict.fromkeys(rows))  # type: ignore[return-value, arg-type]


def check_methods(methods: Sequence[str]) -> None:
    """Refuse an empty list of methods, one not in :data:`kquant.defaults.METHODS`, or
    one given twice."""
    if not methods:
        raise UsageError(f"no method given; choose from {', '.join(METHODS)}",
                         params=("methods",))  # fmt: skip
    for i, method in enumerate(methods):
        check_choice("methods", method, METHODS, "method")
        if method in methods[:i]:
            raise UsageError(f"{method} is given twice", params=("methods",))
