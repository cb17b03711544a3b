"""Batch benchmark: 200 real images of about 0.3 MP at k = 32.

Compares, on the same folder:
- one ``kquant compress FOLDER -k 32 -o OUT -j 2`` call, and with ``-j 1``;
- the same call sent to a two-worker Dask cluster on 127.0.0.1
  (``--cluster ADDRESS``; a ``LocalCluster`` of two one-thread worker processes that
  this script starts and keeps for all runs, as a real cluster is kept);
- a shell loop calling ``kquant compress`` once per file;
- one ``pngquant --nofs 32`` call over the same files.

Then the cost of sending a job to the cluster, on 200 tiny images (16x16, where
the work itself is next to nothing): seconds per image through ``--cluster`` against
the local pool (``-j 2``), which says from what image size a cluster pays.

The folder is made from the corpus (bench/corpus.py): each corpus image gives ten
different crops, each resized to 640x480 (Lanczos). Wall time is the median of
``--runs`` runs (the shell loop: ``--loop-runs``, default 1, as it takes minutes).

Usage: python bench/batch.py [--runs 3] [--loop-runs 1] [--jobs 2] [--no-cluster]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from collections.abc import Callable
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


def tiny_folder() -> Path:
    """200 images of 16x16 (crops of the batch folder's first image)."""
    folder = corpus.WORK / "tiny200"
    if folder.exists() and len(list(folder.glob("*.png"))) >= 200:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(sorted(build_folder().glob("*.png"))[0]) as im:
        im = im.convert("RGB")
        for i in range(200):
            x, y = (i * 29) % (im.width - 16), (i * 17) % (im.height - 16)
            im.crop((x, y, x + 16, y + 16)).save(folder / f"tiny-{i:03}.png")
    return folder


def start_cluster():
    """A LocalCluster of two one-thread worker processes on 127.0.0.1, or None
    without ``distributed``."""
    try:
        from distributed import LocalCluster
    except ImportError:
        print("no dask.distributed: cluster rows skipped", file=sys.stderr)
        return None
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None, silence_logs=50)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--loop-runs", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-cluster", action="store_true")
    args = ap.parse_args()
    cluster = None if args.no_cluster else start_cluster()
    folder = build_folder()
    files = sorted(folder.glob("*.png"))
    out = corpus.WORK / "batch-out"

    def fresh() -> Path:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return out

    def one_call(*how: str, src: Path = folder) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            fresh()
            return run_once([KQUANT, "compress", str(src), "-k", "32", "-o", str(out), "-q",
                             *how])  # fmt: skip

        return run

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

    plan = [
        (f"kquant, one call, -j {args.jobs}", one_call("-j", str(args.jobs)), args.runs),
        ("kquant, one call, -j 1", one_call("-j", "1"), args.runs),
    ]
    if cluster is not None:
        address = cluster.scheduler_address
        plan.append(("kquant, one call, --cluster (2 workers)", one_call("--cluster", address),
                     args.runs))  # fmt: skip
    plan += [
        ("kquant, shell loop, one call per file", loop, args.loop_runs),
        ("pngquant --nofs, one call", pngquant, args.runs),
    ]
    if cluster is not None:
        tiny = tiny_folder()
        plan += [
            ("tiny: kquant -j 2", one_call("-j", "2", src=tiny), args.runs),
            ("tiny: kquant --cluster (2 workers)", one_call("--cluster", address, src=tiny),
             args.runs),
        ]  # fmt: skip
    rows = []
    for name, fn, runs in plan:
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
        if not name.startswith("tiny"):
            lines.append(f"| {name} | {secs:.1f} | {runs} | {secs / base:.2f} | {rss:.0f} |")
    tiny_rows = [r for r in rows if r[0].startswith("tiny")]
    if tiny_rows:
        lines += ["", "Cost per task, 200 images of 16x16:", "",
                  "| run | wall s | ms per image |", "|---|---|---|"]  # fmt: skip
        for name, secs, _, _ in tiny_rows:
            lines.append(f"| {name} | {secs:.2f} | {1000 * secs / 200:.1f} |")
    if cluster is not None:
        cluster.close()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
