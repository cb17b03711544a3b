"""Time and peak memory per megapixel, 1 to 100 MP, kquant against pngquant.

The 20 MP photo of the corpus resized (Lanczos) to each size (and, with ``--images``,
corpus images as they are, in the CSV only), compressed at k = 256
by whole processes; wall time and peak RSS (``ru_maxrss`` of the child) are the
medians of ``--runs`` runs. The marginal columns are the differences between
consecutive sizes divided by the megapixels between them: flat marginal figures
mean no step grows faster than the image.

``--also LABEL=CMD`` (repeatable) adds another kquant command, for instance an
older checkout installed in its own virtualenv, to measure before and after a
change: at each size the commands' runs alternate (a, b, a, b, ...), so a slow
moment of the machine falls on both. Rows are merged into ``<out>.csv``.

Usage: python bench/scale.py [--runs 3] [--sizes 1,4,12,25,50,100]
                             [--also "kquant before=/tmp/old/bin/kquant"]
                             [--no-pngquant] [--extra "--space lab"]
                             [--out bench/work/scale]
"""

from __future__ import annotations

import argparse
import csv
import shlex
import shutil
import statistics
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from run import KQUANT, MSE_MINIMAL, run_once

HERE = Path(__file__).resolve().parent
Image.MAX_IMAGE_PIXELS = None  # the 100 MP image is ours
FIELDS = ["tool", "image", "megapixels", "seconds", "max_rss_mb", "runs"]


def measure(cmds: list[list[str]], runs: int) -> list[tuple[float, float]]:
    """Median (seconds, peak MB) of each command, their runs alternating."""
    results: list[list[tuple[float, float]]] = [[] for _ in cmds]
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            results[i].append(run_once(cmd))
    return [
        (statistics.median(t for t, _ in r), statistics.median(m for _, m in r)) for r in results
    ]


def table(rows: list[dict], tools: list[str]) -> str:
    lines = [
        "| tool | MP | s | s/MP | marginal s/MP | peak MB | MB/MP | marginal MB/MP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tool in tools:
        mine = sorted((r for r in rows if r["tool"] == tool and r["image"].startswith("kleiber-")),
                      key=lambda r: r["megapixels"])  # fmt: skip
        prev = None
        for r in mine:
            mp, s, mb = r["megapixels"], r["seconds"], r["max_rss_mb"]
            ms = mmb = ""
            if prev is not None and mp > prev["megapixels"]:
                d = mp - prev["megapixels"]
                ms = f"{(s - prev['seconds']) / d:.3f}"
                mmb = f"{(mb - prev['max_rss_mb']) / d:.2f}"
            lines.append(
                f"| {tool} | {mp:.1f} | {s:.2f} | {s / mp:.3f} | {ms} | {mb:.0f} | "
                f"{mb / mp:.1f} | {mmb} |"
            )
            prev = r
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="1,4,12,25,50,100")
    ap.add_argument("--images", default="", help="corpus images as they are, e.g. seeding-16mp")
    ap.add_argument("--also", action="append", default=[], help="LABEL=CMD, another kquant")
    ap.add_argument("--extra", default="", help="more kquant options, e.g. '--space lab'")
    ap.add_argument("--no-pngquant", action="store_true")
    ap.add_argument("--out", default=str(HERE / "work" / "scale"))
    args = ap.parse_args()
    out_dir = HERE / "work" / "outputs"
    out_dir.mkdir(parents=True, exist_ok=True)
    # "kquant" as recorded before issue 22 (undithered, against pngquant --nofs), and
    # the default (dithered) against pngquant's
    kquants = [("kquant", [KQUANT], MSE_MINIMAL), ("kquant-default", [KQUANT], [])] + [
        (label, shlex.split(cmd), []) for label, cmd in (a.split("=", 1) for a in args.also)
    ]
    rows = []
    sources = [corpus.scaled(float(size)) for size in args.sizes.split(",") if size]
    sources += [corpus.CORPUS / f"{name}.png" for name in args.images.split(",") if name]
    for src in sources:
        with Image.open(src) as im:
            mp = im.width * im.height / 1e6
        dst = out_dir / f"scale-{src.stem}.png"
        tools = [(label, [*cmd, "compress", str(src), "-k", "256", "-o", str(dst), "--force",
                          "-q", "--max-pixels", "none", *flags, *shlex.split(args.extra)])
                 for label, cmd, flags in kquants]  # fmt: skip
        if not args.no_pngquant and shutil.which("pngquant"):
            tools.append(("pngquant", ["pngquant", "--nofs", "--force", "--output", str(dst),
                                       "256", str(src)]))  # fmt: skip
            tools.append(("pngquant-default", ["pngquant", "--force", "--output", str(dst),
                                               "256", str(src)]))  # fmt: skip
        measured = measure([cmd for _, cmd in tools], args.runs)
        for (tool, _), (secs, rss) in zip(tools, measured, strict=True):
            rows.append({"tool": tool, "image": src.stem, "megapixels": round(mp, 2),
                         "seconds": round(secs, 3),
                         "max_rss_mb": round(rss, 1), "runs": args.runs})  # fmt: skip
            print(f"{tool:24} {mp:6.1f} MP {secs:7.2f} s {rss:7.0f} MB", file=sys.stderr,
                  flush=True)  # fmt: skip
    path = Path(args.out).with_suffix(".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    old = []
    if path.exists():
        with path.open(newline="") as fh:
            old = [
                {**r, **{f: float(r[f]) for f in FIELDS[2:]}}
                for r in csv.DictReader(fh)
                if (r["tool"], r["image"]) not in {(n["tool"], n["image"]) for n in rows}
            ]
    merged = old + rows
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        writer.writerows(merged)
    tools = list(dict.fromkeys(r["tool"] for r in merged))
    text = table(merged, tools)
    path.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
