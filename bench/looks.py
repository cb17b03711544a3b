"""How the pictures look, against bytes (issue 22): SSIMULACRA 2 and blurred CIEDE2000
of kquant's candidates for its default next to pngquant's, at k = 16, 64, 256.

Images: the benchmark corpus (bench/corpus.py), photos above 1.6 MP resized with
Lanczos to at most 1280 px on their long side (SSIMULACRA 2 in Python takes about
2 s a megapixel; the issue's photos were 1280x800), split into photos and graphics
(:data:`GRAPHICS`: flat colors, text, line art), where dithering can hurt.

Settings (:data:`SETTINGS`, :data:`DEFAULT_SETTINGS` unless ``--settings``): pngquant's
default (Floyd-Steinberg) and ``--speed 1``; kquant's default (the weighted space,
Floyd-Steinberg), ``--dither none`` and kquant's default before issue 22 (``--space rgb
--dither none``, the MSE-minimal output). Each written file is scored against the image
it was made from:

- SSIMULACRA 2 (:func:`kquant.core.metrics.ssimulacra2`, the ``ssimulacra2`` package, the
  pure-Python port of libjxl's metric; higher is better: 90 visually lossless, 70
  high, 50 medium, 30 low); with alpha, composited on a dark and a light gray, the
  lower score (the package's own alpha variant reads pngquant's palette files
  without their transparency: -80 on chelsea-alpha);
- CIEDE2000 of both images blurred by a 1 px Gaussian (kquant.core.metrics), the colors
  as seen from a distance;
- bytes of the PNG as written.

Prints per k and image class the medians and, for each setting, how it fares against
pngquant's default: images where its SSIMULACRA 2 is higher, the worst shortfall in
points, and the median of its bytes over pngquant's; for graphics also against
kquant ``--dither none`` (issue 22's bar: dithering by default may cost them at most
2 points and 5% of bytes). Rows go to ``<out>.csv``, tables to ``<out>.md``, and the
rate plot (median SSIMULACRA 2 and blurred CIEDE2000 against median bits per pixel,
one line per setting through k = 16, 64, 256) to ``<out>.png``.

Usage: python bench/looks.py [--k 16,64,256] [--images a,b] [--settings ...]
       [--out bench/work/looks]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from run import KQUANT, load_rgba, run_once, write_results

from kquant.core.metrics import BLUR_SIGMA, mean_delta_e, ssimulacra2

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"

#: Corpus images that are graphics rather than photos.
GRAPHICS = frozenset({"skimage-logo", "skimage-page", "skimage-color", "horse", "hello-anim"})
#: Images above this many pixels are resized for scoring.
MAX_PIXELS = 1_600_000
LONG_SIDE = 1280

_K = [KQUANT, "compress", "{src}", "-k", "{k}", "-o", "{dst}", "--force", "-q"]
#: setting -> command template ({src}, {dst}, {k}).
SETTINGS: dict[str, list[str]] = {
    "pngquant": ["pngquant", "--force", "--output", "{dst}", "{k}", "{src}"],
    "pngquant-s1": ["pngquant", "--speed", "1", "--force", "--output", "{dst}", "{k}", "{src}"],
    "kquant": _K,
    "kquant-none": [*_K, "--dither", "none"],
    "kquant-rgb-none": [*_K, "--space", "rgb", "--dither", "none"],
    "kquant-adaptive": [*_K, "--dither", "adaptive"],
    "kquant-rgb-fs": [*_K, "--space", "rgb"],
}
DEFAULT_SETTINGS = ("pngquant", "pngquant-s1", "kquant", "kquant-none", "kquant-rgb-none")
REFERENCE = "pngquant"
#: What dithering by default is held to on graphics.
GRAPHICS_REFERENCE = "kquant-none"


@dataclass
class Row:
    setting: str
    image: str
    kind: str
    megapixels: float
    k: int
    ssimulacra2: float
    delta_e_blur: float
    bytes: int
    seconds: float


def scored_source(src: Path) -> Path:
    """The image as scored: ``src`` itself, or a copy resized to :data:`LONG_SIDE`."""
    with Image.open(src) as im:
        if im.width * im.height <= MAX_PIXELS:
            return src
        scale = LONG_SIDE / max(im.size)
        size = (round(im.width * scale), round(im.height * scale))
        dst = WORK / "looks-sources" / f"{src.stem}.png"
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            im.resize(size, Image.Resampling.LANCZOS).save(dst, compress_level=1)
        return dst


def measure(setting: str, src: Path, k: int, out_dir: Path) -> Row:
    dst = out_dir / f"{src.stem}-{setting}-k{k}.png"
    dst.unlink(missing_ok=True)
    wall, _ = run_once([part.format(src=src, dst=dst, k=k) for part in SETTINGS[setting]])
    original, written = load_rgba(src), load_rgba(dst)
    if not (original[..., 3] < 255).any():
        original, written = original[..., :3], written[..., :3]
    visible = original[..., 3] > 0 if original.shape[2] == 4 else None
    return Row(
        setting=setting,
        image=src.stem,
        kind="graphics" if src.stem in GRAPHICS else "photo",
        megapixels=round(original.shape[0] * original.shape[1] / 1e6, 2),
        k=k,
        ssimulacra2=round(ssimulacra2(original, written, whole_pixels=None).value, 2),
        delta_e_blur=round(mean_delta_e(original, written, visible, blur=BLUR_SIGMA).value, 3),
        bytes=dst.stat().st_size,
        seconds=round(wall, 3),
    )


def versus(at: list[Row], setting: str, reference: str) -> dict | None:
    """How ``setting`` fares against ``reference`` on the rows ``at`` (one k, one
    kind): images strictly above, the worst shortfall in points (0 if none), the
    median and largest of its bytes over the reference's."""
    by = {(r.setting, r.image): r for r in at}
    pairs = [(r, by[(reference, r.image)]) for r in at
             if r.setting == setting and (reference, r.image) in by]  # fmt: skip
    if not pairs:
        return None
    ratios = [r.bytes / ref.bytes for r, ref in pairs]
    return {
        "above": sum(r.ssimulacra2 > ref.ssimulacra2 for r, ref in pairs),
        "n": len(pairs),
        "worst": min(0.0, min(r.ssimulacra2 - ref.ssimulacra2 for r, ref in pairs)),
        "bytes": statistics.median(ratios),
        "max_bytes": max(ratios),
    }


def tables(rows: list[Row], settings: list[str]) -> str:
    parts = []
    for k in sorted({r.k for r in rows}):
        for kind in ("photo", "graphics"):
            at = [r for r in rows if r.k == k and r.kind == kind]
            if not at:
                continue
            images = sorted({r.image for r in at})
            extra = kind == "graphics" and any(r.setting == GRAPHICS_REFERENCE for r in at)
            g = GRAPHICS_REFERENCE
            lines = [
                f"#### k = {k}, {kind} ({len(images)} images)",
                "",
                "| setting | median SSIMULACRA 2 | median blurred CIEDE2000 | median bytes "
                f"vs {REFERENCE} | SSIMULACRA 2 above {REFERENCE} | worst shortfall (points) |"
                + (f" worst vs {g} (points) | bytes vs {g}: median, largest |" if extra else ""),
                "|---|---|---|---|---|---|" + ("---|---|" if extra else ""),
            ]
            for setting in settings:
                mine = [r for r in at if r.setting == setting]
                vs = versus(at, setting, REFERENCE)
                if not mine or vs is None:
                    continue
                line = (
                    f"| {setting} | {statistics.median(r.ssimulacra2 for r in mine):.1f} "
                    f"| {statistics.median(r.delta_e_blur for r in mine):.2f} "
                    f"| {vs['bytes']:.3f}x | {vs['above']}/{vs['n']} | {vs['worst']:+.1f} |"
                )
                if extra:
                    ge = versus(at, setting, g)
                    line += (f" {ge['worst']:+.1f} | {ge['bytes']:.3f}x, {ge['max_bytes']:.3f}x |"
                             if ge else " | |")  # fmt: skip
                lines.append(line)
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def plot(rows: list[Row], settings: list[str], out: Path) -> None:
    """The rate plot: per image kind, median SSIMULACRA 2 (top) and blurred CIEDE2000
    (bottom) against median bits per pixel, one line per setting through its k."""
    from matplotlib.figure import Figure

    kinds = [kind for kind in ("photo", "graphics") if any(r.kind == kind for r in rows)]
    fig = Figure(figsize=(5.5 * len(kinds), 8.5), layout="constrained")
    axes = fig.subplots(2, len(kinds), squeeze=False)
    for col, kind in enumerate(kinds):
        for setting in settings:
            points = []
            for k in sorted({r.k for r in rows}):
                mine = [r for r in rows if r.kind == kind and r.k == k and r.setting == setting]
                if mine:
                    bpp = statistics.median(8 * r.bytes / (r.megapixels * 1e6) for r in mine)
                    points.append((k, bpp, statistics.median(r.ssimulacra2 for r in mine),
                                   statistics.median(r.delta_e_blur for r in mine)))  # fmt: skip
            if not points:
                continue
            style = "-o" if setting.startswith("kquant") else "--s"
            for row, index in ((0, 2), (1, 3)):
                ax = axes[row][col]
                ax.plot([p[1] for p in points], [p[index] for p in points], style, label=setting)
                for p in points:
                    ax.annotate(f"k={p[0]}", (p[1], p[index]), fontsize=7,
                                textcoords="offset points", xytext=(3, -9))  # fmt: skip
        for row, label in ((0, "median SSIMULACRA 2 (higher is better)"),
                           (1, "median blurred CIEDE2000 (lower is better)")):  # fmt: skip
            ax = axes[row][col]
            ax.set_xlabel("median bits per pixel")
            ax.set_ylabel(label)
            ax.set_title(f"{kind}s" if kind == "photo" else kind)
            ax.grid(True, which="both", alpha=0.3)
        axes[0][col].legend(fontsize=8)
    fig.savefig(out, format="png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", default="16,64,256")
    ap.add_argument("--images", default="", help="comma-separated stems; default all")
    ap.add_argument("--settings", default=",".join(DEFAULT_SETTINGS),
                    help=f"comma-separated, of: {', '.join(SETTINGS)}")  # fmt: skip
    ap.add_argument("--out", default=str(WORK / "looks"))
    args = ap.parse_args()
    out_dir = WORK / "outputs-looks"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    settings = args.settings.split(",")
    t0 = time.perf_counter()
    for original in corpus.selected(args.images):
        src = scored_source(original)
        for k in (int(k) for k in args.k.split(",")):
            for setting in settings:
                row = measure(setting, src, k, out_dir)
                rows.append(row)
                print(f"{row.image:26} k={k:<3} {setting:12} ssimulacra2 {row.ssimulacra2:6.2f} "
                      f"blurred dE {row.delta_e_blur:5.2f} {row.bytes:>9,} B", file=sys.stderr,
                      flush=True)  # fmt: skip
    write_results(Path(args.out), rows, tables(rows, settings))
    plot(rows, settings, Path(args.out).with_suffix(".png"))
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
