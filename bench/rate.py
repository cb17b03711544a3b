"""Bytes at a given quality: kquant's quality targets against the web pipeline.

Usage: python bench/rate.py [--targets 35,38,41] [--images a,b] [--out bench/work/rate]

For each photo of the corpus and each PSNR target T, every pipeline is run as whole
processes, from the input PNG to the final file, and its output is measured here
(PSNR over visible pixels and RGB channels, as in bench/run.py):

- ``pngquant``: ``pngquant --nofs --quality 0-Q`` for Q in :data:`QUALITIES`; the
  smallest output whose measured PSNR reaches T (the setting a user would have to
  find; its one run is timed);
- ``pngquant+oxipng``: that output, then oxipng at level 2 (pyoxipng, run as
  ``python -c``; its time added);
- ``kquant``: ``kquant compress --target-psnr T`` (undithered: runs of indices are
  continued within a budget, the default of an undithered target);
- ``kquant -O2``: the same with ``-O 2`` (oxipng inside);
- ``kquant plain``, ``kquant -O2 plain``: both with ``--no-rate-aware``;
- ``kquant webp``: ``kquant compress --target-psnr T -o x.webp`` (lossless WebP).

A pipeline that cannot reach T (pngquant at Q=100, kquant at -k 256) is left out of
that comparison. Prints markdown tables (bytes ratios to ``pngquant+oxipng`` at equal
or better PSNR: median and worst; times) and writes ``<out>.csv``, ``<out>.md`` and a
plot of bytes against PSNR for one image, ``<out>-<image>.png``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from run import KQUANT, MSE_MINIMAL, PY, load_rgba, mse_of, run_once

#: Photos of the corpus (graphics and micrographs left out).
PHOTOS = [
    "photo-4mp", "sunset-12mp", "seeding-16mp", "kleiber-20mp", "china", "coffee",
    "astronaut", "skimage-chelsea", "skimage-rocket", "skimage-motorcycle_left",
]  # fmt: skip
#: pngquant's --quality maxima tried.
QUALITIES = [30, 40, 50, 60, 65, 70, 75, 80, 85, 88, 90, 92, 94, 96, 98, 100]
OXIPNG = [PY, "-c", "import sys, oxipng; oxipng.optimize(sys.argv[1], sys.argv[2], level=2)"]
REFERENCE = "pngquant+oxipng"
#: Images of at least this many megapixels hold the time target (photo-4mp: 4.0).
LARGE_MP = 3.9


@dataclass
class Row:
    image: str
    megapixels: float
    target: float
    pipeline: str
    psnr: float
    bytes: int
    seconds: float


def psnr_of(original: np.ndarray, path: Path) -> float:
    mse = mse_of(original, load_rgba(path))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def pngquant_runs(
    src: Path, out: Path, original: np.ndarray
) -> list[tuple[int, Path, float, float]]:
    """(Q, file, PSNR, seconds) of pngquant at each quality maximum."""
    runs = []
    for q in QUALITIES:
        dst = out / f"{src.stem}-pq{q}.png"
        seconds, _ = run_once(["pngquant", "--nofs", "--force", "--quality", f"0-{q}",
                               "--output", str(dst), str(src)])  # fmt: skip
        runs.append((q, dst, psnr_of(original, dst), seconds))
    return runs


def measure(src: Path, targets: list[float], out: Path) -> list[Row]:
    original = load_rgba(src)
    mp = original.shape[0] * original.shape[1] / 1e6
    rows = []
    pq = pngquant_runs(src, out, original)
    for target in targets:
        ok = [r for r in pq if r[2] >= target]
        if ok:
            q, path, psnr, seconds = min(ok, key=lambda r: r[1].stat().st_size)
            rows.append(Row(src.stem, mp, target, "pngquant", psnr, path.stat().st_size, seconds))
            opt = out / f"{src.stem}-pq{q}-oxipng.png"
            extra, _ = run_once([*OXIPNG, str(path), str(opt)])
            rows.append(Row(src.stem, mp, target, REFERENCE, psnr_of(original, opt),
                            opt.stat().st_size, seconds + extra))  # fmt: skip
        kquant_pipelines = [  # a PSNR target: the MSE-minimal output reaches it in fewest bytes
            ("kquant", MSE_MINIMAL, ".png"),
            ("kquant -O2", ["-O", "2", *MSE_MINIMAL], ".png"),
            ("kquant plain", ["--no-rate-aware", *MSE_MINIMAL], ".png"),
            ("kquant -O2 plain", ["-O", "2", "--no-rate-aware", *MSE_MINIMAL], ".png"),
            ("kquant webp", MSE_MINIMAL, ".webp"),
        ]
        for name, extra_args, suffix in kquant_pipelines:
            dst = out / f"{src.stem}-{name.replace(' ', '_')}-{target:g}{suffix}"
            try:
                seconds, _ = run_once([KQUANT, "compress", str(src), "--target-psnr", f"{target:g}",
                                       "-o", str(dst), "--force", "-q", *extra_args])  # fmt: skip
            except RuntimeError:  # exit 3: even -k 256 misses the target
                continue
            rows.append(Row(src.stem, mp, target, name, psnr_of(original, dst),
                            dst.stat().st_size, seconds))  # fmt: skip
        print(f"{src.stem} {target:g} dB: "
              + ", ".join(f"{r.pipeline} {r.bytes:,} B {r.psnr:.2f} dB {r.seconds:.2f} s"
                          for r in rows if r.target == target), flush=True)  # fmt: skip
    return rows


def tables(rows: list[Row]) -> str:
    pipelines = [
        "pngquant",
        REFERENCE,
        "kquant",
        "kquant -O2",
        "kquant plain",
        "kquant -O2 plain",
        "kquant webp",
    ]
    out = [
        "| target | pipeline | images | bytes vs pngquant+oxipng, median | worst "
        "| time vs pngquant+oxipng, median | worst | worst at 4 MP and more |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for target in sorted({r.target for r in rows}):
        ref = {r.image: r for r in rows if r.target == target and r.pipeline == REFERENCE}
        for name in pipelines:
            # both meet the target, as measured on the files (pngquant's coarse quality
            # scale often overshoots it: its bytes buy PSNR above the target)
            pairs = [(r, ref[r.image]) for r in rows
                     if r.target == target and r.pipeline == name and r.image in ref
                     and r.psnr >= target]  # fmt: skip
            if not pairs:
                continue
            size = [a.bytes / b.bytes for a, b in pairs]
            speed = [a.seconds / b.seconds for a, b in pairs]
            large = [a.seconds / b.seconds for a, b in pairs if a.megapixels >= LARGE_MP]
            worst_large = f"{max(large):.2f}" if large else "—"
            out.append(
                f"| {target:g} dB | {name} | {len(pairs)} | {statistics.median(size):.3f} "
                f"| {max(size):.3f} | {statistics.median(speed):.2f} | {max(speed):.2f} "
                f"| {worst_large} |"
            )
    out += [
        "",
        "| image | MP | target | pipeline | PSNR | bytes | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| {r.image} | {r.megapixels:.1f} | {r.target:g} | {r.pipeline} | "
                   f"{r.psnr:.2f} | {r.bytes:,} | {r.seconds:.2f} |")  # fmt: skip
    return "\n".join(out)


def plot(rows: list[Row], image: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.add_subplot()
    for name in sorted({r.pipeline for r in rows if r.image == image}):
        points = sorted(
            (r.psnr, r.bytes / 1024) for r in rows if r.image == image and r.pipeline == name
        )
        ax.plot([p for p, _ in points], [b for _, b in points], marker="o", label=name)
    ax.set_xlabel("PSNR (dB), measured on the output")
    ax.set_ylabel("KiB")
    ax.set_title(f"{image}: bytes against quality")
    ax.grid(True, alpha=0.3)
    ax.legend()
    figure.savefig(path, format="png", dpi=110)


def _measured(args: argparse.Namespace) -> list[Row]:
    targets = [float(t) for t in args.targets.split(",")]
    work = corpus.WORK / "outputs" / "rate"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for src in corpus.selected(args.images):
        rows += measure(src, targets, work)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="35,38,41")
    parser.add_argument("--images", default=",".join(PHOTOS))
    parser.add_argument("--out", type=Path, default=corpus.WORK / "rate")
    parser.add_argument("--from-csv", type=Path, help="Only tabulate and plot this CSV again.")
    args = parser.parse_args()
    if args.from_csv:
        with open(args.from_csv, newline="") as fh:
            rows = [Row(r["image"], float(r["megapixels"]), float(r["target"]), r["pipeline"],
                        float(r["psnr"]), int(r["bytes"]), float(r["seconds"]))
                    for r in csv.DictReader(fh)]  # fmt: skip
    else:
        rows = _measured(args)
        with open(args.out.with_suffix(".csv"), "w", newline="") as fh:
            writer = csv.DictWriter(fh, [f.name for f in fields(Row)])
            writer.writeheader()
            writer.writerows(asdict(r) for r in rows)
    text = tables(rows)
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)
    if any(r.image == "photo-4mp" for r in rows):
        plot(rows, "photo-4mp", args.out.with_name(args.out.name + "-photo-4mp.png"))


if __name__ == "__main__":
    main()
