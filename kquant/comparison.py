"""Several methods on one image, side by side: the numbers and the pictures.

:func:`compare_methods` quantizes one image with each method (same k, seed and
sample) and measures each result the way ``compress`` does, plus the size of the
indexed PNG it would write. :func:`side_by_side` draws the original and the
results in one labelled picture.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from kquant.defaults import DEFAULT_DITHER, DEFAULT_DITHER_STRENGTH, METHODS
from kquant.errors import UsageError
from kquant.images import save_quantized
from kquant.metrics import perceptual
from kquant.quantizer import Quantized, quantize
from kquant.settings import FitOptions, check_choice

__all__ = ["MethodResult", "check_methods", "compare_methods", "side_by_side"]


@dataclass(frozen=True)
class MethodResult:
    """One method's result on the image.

    Attributes
    ----------
    method : str
    quantized : Quantized
    png_bytes : int
        Size of the indexed PNG of the result.
    seconds : float
        Wall time of the quantization (fit and map), not of the PNG encoding.
    measures : dict
        Perceptual measures by report field (``delta_e``, ``ssim``, ...), None
        where not asked for (:func:`kquant.metrics.perceptual`).
    """

    method: str
    quantized: Quantized
    png_bytes: int
    seconds: float
    measures: dict[str, float | None] = dataclasses.field(default_factory=dict)

    def row(self, k: int) -> dict:
        d = self.quantized.distortion
        return {
            "method": self.method,
            "k": k,
            "colors": self.quantized.colors_out,
            "mse": d.mse,
            "psnr": d.psnr,
            "max_error": d.max_error,
            **self.measures,
            "bytes": self.png_bytes,
            "seconds": self.seconds,
        }


def check_methods(methods: Sequence[str]) -> None:
    """Refuse an empty list of methods, or one not in :data:`kquant.defaults.METHODS`."""
    if not methods:
        raise UsageError(f"no method given; choose from {', '.join(METHODS)}",
                         params=("methods",))  # fmt: skip
    for method in methods:
        check_choice("methods", method, METHODS, "method")


def compare_methods(
    pixels: np.ndarray,
    k: int,
    methods: list[str],
    options: FitOptions | None = None,
    *,
    dither: str = DEFAULT_DITHER,
    dither_strength: float = DEFAULT_DITHER_STRENGTH,
    metrics: Sequence[str] = (),
) -> list[MethodResult]:
    """Quantize ``pixels`` with each of ``methods``.

    Parameters
    ----------
    pixels : (H, W, 3|4) uint8 ndarray
    k : int
    methods : list of str
        Names from :data:`kquant.defaults.METHODS`.
    options : FitOptions or None
        Shared settings (seed, sample, ...); ``method`` is replaced by each method.
    dither, dither_strength
        As for :func:`kquant.quantize`, for every method.
    metrics : sequence of str
        Perceptual measures to compute (:func:`kquant.metrics.perceptual`).

    Returns
    -------
    list of MethodResult, in the order of ``methods``
    """
    check_methods(methods)
    options = options or FitOptions()
    results = []
    for method in methods:
        start = time.perf_counter()
        q = quantize(
            pixels,
            k,
            options=dataclasses.replace(options, method=method),
            dither=dither,
            dither_strength=dither_strength,
        )
        seconds = time.perf_counter() - start
        measured = perceptual(pixels, q.to_array() if metrics else None, metrics)
        buffer = io.BytesIO()
        size = save_quantized(
            buffer, q.palette, q.indices, fmt="PNG", transparent_index=q.transparent_index
        )
        measures = {name: value.value for name, value in measured.items()}
        results.append(MethodResult(method, q, size, seconds, measures))
    return results


def side_by_side(pixels: np.ndarray, results: list[MethodResult], k: int) -> Image.Image:
    """The original and each result next to each other, each labelled.

    Parameters
    ----------
    pixels : (H, W, 3|4) uint8 ndarray
        The original.
    results : list of MethodResult

    Returns
    -------
    PIL.Image.Image
        RGB, ``(len(results) + 1) * W + gaps`` wide and ``H + label`` high; transparent
        pixels are shown over white.
    """
    label_h, gap = 22, 8
    h, w = pixels.shape[:2]
    panels = [("original", pixels)] + [
        (
            f"{r.method} k={k} "
            + ("lossless" if r.quantized.distortion.psnr is None
               else f"{r.quantized.distortion.psnr:.2f} dB"),
            r.quantized.to_array(),
        )
        for r in results
    ]  # fmt: skip
    sheet = Image.new("RGB", (len(panels) * w + (len(panels) - 1) * gap, h + label_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, array) in enumerate(panels):
        x = i * (w + gap)
        panel = Image.fromarray(array)
        if panel.mode == "RGBA":
            backdrop = Image.new("RGB", panel.size, "white")
            backdrop.paste(panel, mask=panel.getchannel("A"))
            panel = backdrop
        sheet.paste(panel, (x, label_h))
        draw.text((x + 4, 4), label, fill="black")
    return sheet
