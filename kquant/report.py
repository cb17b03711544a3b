"""Human-readable summaries of :class:`kquant.compress.Report`."""

from __future__ import annotations

from kquant.compress import Report
from kquant.defaults import METRIC_LABELS

__all__ = ["format_report", "human_bytes"]


def human_bytes(nbytes: int) -> str:
    """``512 B``, ``192.0 KiB``, ``7.8 MiB``."""
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024 or unit == "MiB":
            return f"{nbytes} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def format_report(report: Report) -> str:
    """A few lines for a person: what went in, what came out, how far and how fast.

    Example::

        china.jpg -> china-k64.png (PNG)
          640x427, 96,615 colors -> 64 (kmeans, k=64, seed 0, fitted on 250,000 px)
          MSE 33.21, PSNR 32.92 dB, max error 61
          deltaE2000 3.90, SSIM 0.9554            (with --metrics deltae,ssim)
          192.0 KiB -> 102.7 KiB (53.5%)
          seconds: load 0.01, fit 0.31, map 0.02, save 0.05, total 0.40
    """
    r = report
    fit = f"fitted on {r.sample:,} px" if r.sample else "no fit needed"
    kind = ", gray" if r.grayscale else ""
    kind += ", alpha" if r.alpha else ""
    psnr = "lossless" if r.psnr is None else f"PSNR {r.psnr:.2f} dB"
    ratio = f"{100 * r.bytes_out / r.bytes_in:.1f}%" if r.bytes_in else "n/a"
    secs = ", ".join(f"{name} {value:.2f}" for name, value in r.seconds.items())
    seen = []
    for field_name, label in METRIC_LABELS.items():
        value = getattr(r, field_name)
        if value is not None:
            seen.append(f"{label} {value:.{4 if 'ssim' in field_name else 2}f}")
    how = r.method if r.space == "rgb" else f"{r.method} in {r.space}"
    if r.dither != "none":
        how += f", {r.dither}" + (f" {r.dither_strength:g}" if r.dither_strength < 1 else "")
    lines = [
        f"{r.input} -> {r.output} ({r.format})",
        f"  {r.width}x{r.height}{kind}, {r.colors_in:,} colors -> {r.colors_out:,}"
        f" ({how}, k={r.k}, seed {r.seed}, {fit})",
        f"  MSE {r.mse:.2f}, {psnr}, max error {r.max_error}",
        *([f"  {', '.join(seen)}"] if seen else []),
        f"  {human_bytes(r.bytes_in)} -> {human_bytes(r.bytes_out)} ({ratio})",
        f"  seconds: {secs}",
    ]
    lines += [f"  note: {note}" for note in r.notes]
    return "\n".join(lines)
