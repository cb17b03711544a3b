"""Perceptual quality: kquant's dithering and Lab fitting next to pngquant's.

For each corpus image (bench/corpus.py) and k in {16, 64}, writes the image with

- kquant ``--dither none|floyd-steinberg`` x ``--space rgb|lab`` (4 settings),
- pngquant with its default Floyd-Steinberg dithering and with ``--nofs``,

and measures every written file the same way, with kquant.core.metrics (whose functions
the test suite checks against scikit-image's): MSE, mean CIEDE2000, SSIM, and both
of the latter on the images blurred by a 1 px Gaussian ("seen from a distance",
where dithering pays off). Above 4 MP, SSIM and the blurred measures use evenly
spaced strips of rows (about 4 MP); MSE and plain CIEDE2000 are exact.

Prints, per k, the median of each measure per setting and, for each kquant setting,
on how many images it is at least as good as dithered pngquant on both SSIM and
CIEDE2000 (plain, and blurred). Rows go to ``<out>.csv`` and the tables to
``<out>.md``; the wall time of one run of each tool is kept too.

Usage: python bench/perceptual.py [--k 16,64] [--images a,b] [--out bench/work/perceptual]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from run import KQUANT, MSE_MINIMAL, load_rgba, mse_of, run_once, write_results

from kquant.core.metrics import BLUR_SIGMA, mean_delta_e, ssim

HERE = Path(__file__).resolve().parent

#: setting -> command template ({src}, {dst}, {k}).
SETTINGS: dict[str, list[str]] = {
    "kquant-rgb": [KQUANT, "compress", "{src}", "-k", "{k}", "-o", "{dst}", "--force", "-q",
                   *MSE_MINIMAL],
    "kquant-rgb-fs": [KQUANT, "compress", "{src}", "-k", "{k}", "-o", "{dst}", "--force", "-q",
                      "--space", "rgb", "--dither", "floyd-steinberg"],
    "kquant-lab": [KQUANT, "compress", "{src}", "-k", "{k}", "-o", "{dst}", "--force", "-q",
                   "--space", "lab", "--dither", "none"],
    "kquant-lab-fs": [KQUANT, "compress", "{src}", "-k", "{k}", "-o", "{dst}", "--force", "-q",
                      "--space", "lab", "--dither", "floyd-steinberg"],
    "pngquant-nofs": ["pngquant", "--nofs", "--force", "--output", "{dst}", "{k}", "{src}"],
    "pngquant-fs": ["pngquant", "--force", "--output", "{dst}", "{k}", "{src}"],
}  # fmt: skip
REFERENCE = "pngquant-fs"
KQUANT_SETTINGS = [name for name in SETTINGS if name.startswith("kquant")]


@dataclass
class Row:
    setting: str
    image: str
    megapixels: float
    k: int
    mse: float
    delta_e: float
    ssim: float
    delta_e_blur: float
    ssim_blur: float
    seconds: float


def measure(setting: str, src: Path, k: int, out_dir: Path, original: np.ndarray) -> Row:
    dst = out_dir / f"{src.stem}-{setting}-k{k}.png"
    dst.unlink(missing_ok=True)
    wall, _ = run_once([part.format(src=src, dst=dst, k=k) for part in SETTINGS[setting]])
    written = load_rgba(dst)
    visible = original[..., 3] > 0
    return Row(
        setting=setting,
        image=src.stem,
        megapixels=round(original.shape[0] * original.shape[1] / 1e6, 2),
        k=k,
        mse=mse_of(original, written),
        delta_e=mean_delta_e(original, written, visible).value,
        ssim=ssim(original, written).value,
        delta_e_blur=mean_delta_e(original, written, visible, blur=BLUR_SIGMA).value,
        ssim_blur=ssim(original, written, blur=BLUR_SIGMA).value,
        seconds=wall,
    )


def at_least_as_good(a: Row, b: Row, blurred: bool) -> bool:
    """``a`` is no worse than ``b`` on both SSIM (higher) and CIEDE2000 (lower)."""
    if blurred:
        return a.ssim_blur >= b.ssim_blur and a.delta_e_blur <= b.delta_e_blur
    return a.ssim >= b.ssim and a.delta_e <= b.delta_e


def tables(rows: list[Row]) -> str:
    parts = []
    for k in sorted({r.k for r in rows}):
        at_k = [r for r in rows if r.k == k]
        images = sorted({r.image for r in at_k})
        by = {(r.setting, r.image): r for r in at_k}
        lines = [
            f"### k = {k} ({len(images)} images): medians, and images where the setting is at "
            f"least as good as {REFERENCE} on both SSIM and CIEDE2000",
            "",
            "| setting | MSE | CIEDE2000 | SSIM | blurred CIEDE2000 | blurred SSIM "
            "| >= pngquant-fs (plain) | >= pngquant-fs (blurred) | median s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for setting in SETTINGS:
            mine = [r for r in at_k if r.setting == setting]
            if not mine:
                continue

            def med(name: str, mine: list[Row] = mine) -> float:
                return statistics.median(getattr(r, name) for r in mine)

            wins = []
            for blurred in (False, True):
                pairs = [(r, by.get((REFERENCE, r.image))) for r in mine]
                pairs = [(r, ref) for r, ref in pairs if ref is not None]
                won = sum(at_least_as_good(r, ref, blurred) for r, ref in pairs)
                wins.append(f"{won}/{len(pairs)}")
            lines.append(
                f"| {setting} | {med('mse'):.1f} | {med('delta_e'):.2f} | {med('ssim'):.4f} "
                f"| {med('delta_e_blur'):.2f} | {med('ssim_blur'):.4f} | {wins[0]} | {wins[1]} "
                f"| {med('seconds'):.2f} |"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", default="16,64")
    ap.add_argument("--images", default="", help="comma-separated stems; default all")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--out", default=str(HERE / "work" / "perceptual"))
    args = ap.parse_args()
    images = corpus.selected(args.images)
    out_dir = HERE / "work" / "outputs-perceptual"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    t0 = time.perf_counter()
    for src in images:
        original = load_rgba(src)
        for k in (int(k) for k in args.k.split(",")):
            for setting in args.settings.split(","):
                row = measure(setting, src, k, out_dir, original)
                rows.append(row)
                print(
                    f"{src.stem:26} k={k:<3} {setting:14} mse {row.mse:8.2f} "
                    f"dE {row.delta_e:5.2f} ssim {row.ssim:.4f} | blurred dE "
                    f"{row.delta_e_blur:5.2f} ssim {row.ssim_blur:.4f} | {row.seconds:5.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
    write_results(Path(args.out), rows, tables(rows))
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
