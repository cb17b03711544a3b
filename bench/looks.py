"""How the pictures look, against bytes (issue 22): SSIMULACRA 2 and blurred CIEDE2000
of kquant's candidates for its default next to pngquant's, at k = 16, 64, 256.

Images: the benchmark corpus (bench/corpus.py), photos above 1.6 MP resized with
Lanczos to at most 1280 px on their long side (SSIMULACRA 2 in Python takes about
2 s a megapixel; the issue's photos were 1280x800), split into photos and graphics
(:data:`GRAPHICS`: flat colors, text, line art), where dithering can hurt.

Settings (:data:`SETTINGS`): pngquant's default (Floyd-Steinberg) and ``--speed 1``;
kquant's current default and ``--dither none|floyd-steinberg|adaptive``. Each written file is
scored against the image it was made from:

- SSIMULACRA 2 (``pip install ssimulacra2``, the pure-Python port of libjxl's
  metric; higher is better: 90 visually lossless, 70 high, 50 medium, 30 low);
  with alpha, its alpha variant;
- CIEDE2000 of both images blurred by a 1 px Gaussian (kquant.metrics), the colors
  as seen from a distance;
- bytes of the PNG as written.

Prints per k and image class the medians and, for each setting, how it fares against
pngquant's default: images where its SSIMULACRA 2 is higher, the worst shortfall in
points, and the median of its bytes over pngquant's. Rows go to ``<out>.csv``,
tables to ``<out>.md``.

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

from kquant.metrics import BLUR_SIGMA, mean_delta_e

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
    "kquant-fs": [*_K, "--dither", "floyd-steinberg"],
    "kquant-adaptive": [*_K, "--dither", "adaptive"],
    "kquant-weighted-fs": [*_K, "--space", "weighted", "--dither", "floyd-steinberg"],
    "kquant-weighted-adaptive": [*_K, "--space", "weighted", "--dither", "adaptive"],
    "kquant-weighted-none": [*_K, "--space", "weighted", "--dither", "none"],
}
REFERENCE = "pngquant"


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


def ssimulacra2_of(original: Path, written: Path, alpha: bool) -> float:
    from ssimulacra2 import compute_ssimulacra2, compute_ssimulacra2_with_alpha

    score = (compute_ssimulacra2_with_alpha if alpha else compute_ssimulacra2)(
        str(original), str(written)
    )
    return float(score)


def measure(setting: str, src: Path, k: int, out_dir: Path) -> Row:
    dst = out_dir / f"{src.stem}-{setting}-k{k}.png"
    dst.unlink(missing_ok=True)
    wall, _ = run_once([part.format(src=src, dst=dst, k=k) for part in SETTINGS[setting]])
    original, written = load_rgba(src), load_rgba(dst)
    alpha = bool((original[..., 3] < 255).any())
    visible = original[..., 3] > 0
    return Row(
        setting=setting,
        image=src.stem,
        kind="graphics" if src.stem in GRAPHICS else "photo",
        megapixels=round(original.shape[0] * original.shape[1] / 1e6, 2),
        k=k,
        ssimulacra2=round(ssimulacra2_of(src, dst, alpha), 2),
        delta_e_blur=round(mean_delta_e(original, written, visible, blur=BLUR_SIGMA).value, 3),
        bytes=dst.stat().st_size,
        seconds=round(wall, 3),
    )


def tables(rows: list[Row]) -> str:
    parts = []
    for k in sorted({r.k for r in rows}):
        for kind in ("photo", "graphics"):
            at = [r for r in rows if r.k == k and r.kind == kind]
            if not at:
                continue
            by = {(r.setting, r.image): r for r in at}
            images = sorted({r.image for r in at})
            lines = [
                f"### k = {k}, {kind} ({len(images)} images)",
                "",
                "| setting | median SSIMULACRA 2 | median blurred CIEDE2000 | median bytes "
                f"vs {REFERENCE} | SSIMULACRA 2 above {REFERENCE} | worst shortfall (points) |",
                "|---|---|---|---|---|---|",
            ]
            for setting in SETTINGS:
                mine = [r for r in at if r.setting == setting]
                pairs = [(r, by[(REFERENCE, r.image)]) for r in mine
                         if (REFERENCE, r.image) in by]  # fmt: skip
                if not pairs:
                    continue
                above = sum(r.ssimulacra2 > ref.ssimulacra2 for r, ref in pairs)
                worst = min(r.ssimulacra2 - ref.ssimulacra2 for r, ref in pairs)
                ratio = statistics.median(r.bytes / ref.bytes for r, ref in pairs)
                lines.append(
                    f"| {setting} | {statistics.median(r.ssimulacra2 for r in mine):.1f} "
                    f"| {statistics.median(r.delta_e_blur for r in mine):.2f} | {ratio:.3f}x "
                    f"| {above}/{len(pairs)} | {min(worst, 0.0):+.1f} |"
                )
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", default="16,64,256")
    ap.add_argument("--images", default="", help="comma-separated stems; default all")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--out", default=str(WORK / "looks"))
    args = ap.parse_args()
    out_dir = WORK / "outputs-looks"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    t0 = time.perf_counter()
    for original in corpus.selected(args.images):
        src = scored_source(original)
        for k in (int(k) for k in args.k.split(",")):
            for setting in args.settings.split(","):
                row = measure(setting, src, k, out_dir)
                rows.append(row)
                print(f"{row.image:26} k={k:<3} {setting:12} ssimulacra2 {row.ssimulacra2:6.2f} "
                      f"blurred dE {row.delta_e_blur:5.2f} {row.bytes:>9,} B", file=sys.stderr,
                      flush=True)  # fmt: skip
    write_results(Path(args.out), rows, tables(rows))
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
