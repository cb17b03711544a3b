"""Batch benchmark: 200 real images of about 0.3 MP at k = 32.

Compares, on the same folder:
- one ``kquant compress FOLDER -k 32 -o OUT -j 2`` call;
- a shell loop calling ``kquant compress`` once per file;
- one ``pngquant --nofs 32`` call over the same files.

The folder is made from the corpus (bench/corpus.py): each corpus image gives ten
different crops, each resized to 640x480 (Lanczos). Wall time is the median of
``--runs`` runs (the shell loop: ``--loop-runs``, default 1, as it takes minutes).

Usage: python bench/batch.py [--runs 3] [--loop-runs 1] [--jobs 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from run import KQUANT, run_once

SIZE = (640, 480)
PER_IMAGE = 10


def build_folder() -> Path:
    folder = corpus.WORK / "batch200"
    if folder.exists() and len(list(folder.glob("*.png"))) >= 200:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    sources = [p for p in corpus.build() if p.stem != "photo-4mp"][:20]
    for src in sources:
        with Image.open(src) as im:
            im = im.convert("RGB")
            w, h = im.size
            for i in range(PER_IMAGE):
                # crops from 100% down to 55% of the image, sliding along the diagonal
                scale = 1.0 - 0.05 * i
                cw, ch = max(16, int(w * scale)), max(16, int(h * scale))
                x = (w - cw) * i // max(1, PER_IMAGE - 1)
                y = (h - ch) * i // max(1, PER_IMAGE - 1)
                tile = im.crop((x, y, x + cw, y + ch)).resize(SIZE, Image.Resampling.LANCZOS)
                tile.save(folder / f"{src.stem}-{i}.png", compress_level=1)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--loop-runs", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    folder = build_folder()
    files = sorted(folder.glob("*.png"))
    out = corpus.WORK / "batch-out"

    def fresh() -> Path:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return out

    def one_call() -> tuple[float, float]:
        fresh()
        return run_once([KQUANT, "compress", str(folder), "-k", "32", "-o", str(out), "-j",
                         str(args.jobs), "-q"])  # fmt: skip

    def loop() -> tuple[float, float]:
        fresh()
        script = (
            f'for f in "{folder}"/*.png; do '
            f'"{KQUANT}" compress "$f" -k 32 -o "{out}/$(basename "$f")" -q || exit 1; done'
        )
        return run_once(["bash", "-c", script])

    def pngquant() -> tuple[float, float]:
        fresh()
        script = f'cd "{folder}" && pngquant --nofs --force --ext -pq.png 32 *.png && ' \
                 f'mv ./*-pq.png "{out}/"'  # fmt: skip
        return run_once(["bash", "-c", script])

    rows = []
    for name, fn, runs in (
        (f"kquant, one call, -j {args.jobs}", one_call, args.runs),
        ("kquant, shell loop, one call per file", loop, args.loop_runs),
        ("pngquant --nofs, one call", pngquant, args.runs),
    ):
        results = [fn() for _ in range(runs)]
        secs = statistics.median(t for t, _ in results)
        rss = statistics.median(m for _, m in results)
        rows.append((name, secs, rss, runs))
        print(f"{name}: {secs:.1f} s", file=sys.stderr, flush=True)
    base = rows[0][1]
    lines = [
        f"### Batch: {len(files)} images of 640x480 at k = 32",
        "",
        "| run | wall s | runs | x kquant one call | max RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name, secs, rss, runs in rows:
        lines.append(f"| {name} | {secs:.1f} | {runs} | {secs / base:.2f} | {rss:.0f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
