"""Defaults and limits shared by the library and the command line.

Kept free of heavy imports (numpy, Pillow, scikit-learn) so that the command line
can show them in ``--help`` without paying for those imports.
"""

from __future__ import annotations

#: Pixels the codebook is fitted on by default; None means every pixel. The fit works
#: on the histogram of distinct colors, which costs the same whatever the sample, so
#: sampling only loses quality (see docs/DESIGN.md).
DEFAULT_SAMPLE: int | None = None

#: Default number of colors (``compress``, ``compare``), and of ``kquant palette``.
DEFAULT_COLORS = 256
DEFAULT_PALETTE_COLORS = 8

#: Largest ``k`` accepted.
MAX_COLORS = 65_536

#: Palette entries an indexed PNG or GIF can hold.
INDEXED_LIMIT = 256

#: Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``); a test checks
#: they agree.
DEFAULT_MAX_PIXELS = 89_478_485
#: An animation's work (canvas pixels x frames) may be this many times the pixel
#: limit: 1.43 G pixels by default, a couple of minutes of work; a 965-byte GIF
#: announcing 40 frames of 9000x9000 is refused before any decoding.
ANIMATION_WORK_FACTOR = 16

#: Output name template for folders and many inputs: ``{stem}`` input name without
#: suffix, ``{ext}`` input suffix without the dot, ``{k}`` colors, ``{method}``.
DEFAULT_TEMPLATE = "{stem}-k{k}.png"

#: The path that means standard input (as INPUT) or standard output (as ``-o``).
STDIO = "-"

#: Codebook methods and k-means initialisations, each with its default.
METHODS: tuple[str, ...] = ("kmeans", "minibatch", "random")
DEFAULT_METHOD = "kmeans"
INITS: tuple[str, ...] = ("k-means++", "random")
DEFAULT_INIT = "k-means++"

#: k-means restarts (None: ``auto``, see kquant.core.codebook.auto_n_init), Lloyd iterations
#: per run and scikit-learn's relative tolerance.
DEFAULT_N_INIT: int | None = None
#: ``--n-init auto``: (largest k, restarts), in order; 1 restart above the last k.
AUTO_N_INIT: tuple[tuple[int, int], ...] = ((16, 8), (32, 4), (64, 2))


def auto_n_init_words() -> str:
    """The ``auto`` rule in words, for ``--help`` and the docs: ``8 for k <= 16, 4 to
    32, 2 to 64, 1 above``."""
    (first_k, first_n), *rest = AUTO_N_INIT
    steps = [f"{first_n} for k <= {first_k}", *(f"{n} to {k}" for k, n in rest)]
    return ", ".join([*steps, "1 above"])


DEFAULT_MAX_ITER = 300
DEFAULT_TOL = 1e-4

#: oxipng's levels (``-O``); 0 writes Pillow's encoding as it is.
MAX_OPTIMIZE = 6
#: The squared-error budget of ``--rate-aware`` (:func:`kquant.core.runs.continue_runs`):
#: measured best of 16, 48, 100 and 200 (docs/BENCHMARKS.md, bench/rate_mapping.py).
RUN_BUDGET = 48.0

#: Seed of every random choice, and the range numpy and scikit-learn accept.
DEFAULT_SEED = 0
MAX_SEED = 2**32 - 1

#: Color spaces palettes are fitted and matched in (see kquant.core.spaces).
SPACES: tuple[str, ...] = ("rgb", "lab", "weighted")
DEFAULT_SPACE = "weighted"

#: Dithering methods, and the share of each pixel's error diffused.
DITHERS: tuple[str, ...] = ("none", "floyd-steinberg", "adaptive")
DEFAULT_DITHER = "floyd-steinberg"
#: Palettes of an animation: one for all frames, or one per frame.
FRAME_PALETTES: tuple[str, ...] = ("shared", "per-frame")
DEFAULT_FRAME_PALETTE = "shared"
#: How the images of a set weigh in a shared palette (kquant.run.shared): by their
#: pixels, or each the same.
WEIGHTS: tuple[str, ...] = ("pixels", "equal")
DEFAULT_WEIGHT = "pixels"
DEFAULT_DITHER_STRENGTH = 1.0

#: ``kquant sweep``: the k tried, and the pixels the silhouette and Calinski-Harabasz
#: scores are computed on (silhouette is quadratic in it), at least MIN_METRIC_SAMPLE.
DEFAULT_SWEEP_COLORS = "2..256"
#: ``compare --side-by-side``: the sheet's width at most, px (a screen's; ``--width``).
DEFAULT_SHEET_WIDTH = 2400
DEFAULT_METRIC_SAMPLE = 2000
#: ``kquant sweep`` suggests first the smallest k reaching this PSNR (dB), unless
#: ``--target-psnr`` says otherwise: the middle of the 35-41 dB range of the rate
#: benchmark; the sample photos compressed to it score 75-82 on SSIMULACRA 2 ("high
#: quality"), and many need all 256 colors to reach it (README, "Choosing k").
DEFAULT_SWEEP_TARGET_PSNR = 38.0
MIN_METRIC_SAMPLE = 10

#: Perceptual measures ``--metrics`` can ask for (MSE and PSNR are always given): mean
#: CIEDE2000 and SSIM, at pixel level and of the images blurred as if seen from a
#: distance (see kquant.core.metrics).
#: Each by the report field that holds it.
METRIC_FIELDS: dict[str, str] = {
    "deltae": "delta_e",
    "ssim": "ssim",
    "deltae-blur": "delta_e_blur",
    "ssim-blur": "ssim_blur",
    "ssimulacra2": "ssimulacra2",
}
METRICS: tuple[str, ...] = tuple(METRIC_FIELDS)
#: What ``--metrics all`` means: every measure that needs no optional package.
METRICS_ALL: tuple[str, ...] = tuple(name for name in METRICS if name != "ssimulacra2")
#: How the report names each field.
METRIC_LABELS: dict[str, str] = {
    "delta_e": "deltaE2000",
    "ssim": "SSIM",
    "delta_e_blur": "blurred deltaE2000",
    "ssim_blur": "blurred SSIM",
    "ssimulacra2": "SSIMULACRA 2",
}
#: Decimals each is shown with.
METRIC_DECIMALS: dict[str, int] = {
    "delta_e": 2,
    "ssim": 4,
    "delta_e_blur": 2,
    "ssim_blur": 4,
    "ssimulacra2": 2,
}

#: Suffixes taken as images when walking folders (explicitly named files are always
#: tried, whatever their suffix).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".dib"}
)
