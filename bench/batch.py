"""Batch benchmark: 200 real images of about 0.3 MP at k = 32.

Compares, on the same folder:
- one ``kquant compress FOLDER -k 32 -o OUT -j 2`` call, and with ``-j 1``;
- the same call sent to a two-worker Dask cluster on 127.0.0.1
  (``--cluster ADDRESS``; a ``LocalCluster`` of two one-thread worker processes that
  this script starts and keeps for all runs, as a real cluster is kept);
- a shell loop calling ``kquant compress`` once per file;
- one ``pngquant --nofs 32`` call over the same files.

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns off
glibc's adaptive mmap threshold, so every large array is mapped and faulted in
afresh; the cluster runs once with that default and once with it unset.

Then the cost of sending a job to the cluster, on 200 tiny images (16x16, where
the work itself is next to nothing) against one: the wall time each further image
adds through ``--cluster`` and in one process, which says from what image size a
cluster pays.

The folder is made from the corpus (bench/corpus.py): each corpus image gives ten
different crops, each resized to 640x480 (Lanczos). Wall time is the median of
``--runs`` runs (the shell loop: ``--loop-runs``, default 1, as it takes minutes).

Usage: python bench/batch.py [--runs 3] [--loop-runs 1] [--jobs 2] [--no-cluster]
"""

from __future__ import annotations

import argparse
import os
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


def start_cluster(dask_malloc: bool = True):
    """A LocalCluster of two one-thread worker processes on 127.0.0.1. Dask's nanny
    starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; ``dask_malloc=False``
    unsets it (the config override the README gives)."""
    import dask
    from distributed import LocalCluster

    unset = {}
    if not dask_malloc:  # a nanny also sets it in its own process: spawned workers inherit
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        unset = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with dask.config.set(unset):
        return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, silence_logs=50)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--loop-runs", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-cluster", action="store_true")
    args = ap.parse_args()
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

    state: dict = {}

    def on_cluster(src: Path = folder, dask_malloc: bool = False) -> Callable[[], tuple]:
        """A kquant call sent to a cluster, started (and left idle) before its first
        run, after every local row, so its idle workers do not share the machine with
        them; one cluster at a time."""

        def run() -> tuple[float, float]:
            if state.get("malloc") is not dask_malloc:
                if "cluster" in state:
                    state["cluster"].close()
                state["cluster"], state["malloc"] = start_cluster(dask_malloc), dask_malloc
            return one_call("--cluster", state["cluster"].scheduler_address, src=src)()

        return run

    tiny = tiny_folder()
    one_tiny = corpus.WORK / "tiny1"
    one_tiny.mkdir(exist_ok=True)
    shutil.copy(sorted(tiny.glob("*.png"))[0], one_tiny / "tiny-000.png")
    plan = [
        (f"kquant, one call, -j {args.jobs}", one_call("-j", str(args.jobs)), args.runs),
        ("kquant, one call, -j 1", one_call("-j", "1"), args.runs),
        ("kquant, shell loop, one call per file", loop, args.loop_runs),
        ("pngquant --nofs, one call", pngquant, args.runs),
        ("tiny 200: kquant -j 1", one_call("-j", "1", src=tiny), args.runs),
        ("tiny 1: kquant -j 1", one_call("-j", "1", src=one_tiny), args.runs),
        ("tiny 200: kquant -j 2", one_call("-j", "2", src=tiny), args.runs),
    ]
    if not args.no_cluster:
        plan += [
            (
                "kquant, one call, --cluster (2 workers, Dask's malloc setting)",
                on_cluster(dask_malloc=True),
                args.runs,
            ),
            (
                "kquant, one call, --cluster (2 workers, MALLOC_TRIM_THRESHOLD_ unset)",
                on_cluster(),
                args.runs,
            ),
            ("tiny 200: kquant --cluster", on_cluster(tiny), args.runs),
            ("tiny 1: kquant --cluster", on_cluster(one_tiny), args.runs),
        ]
    rows = []
    for name, fn, runs in [p for p in plan if p[2] > 0]:  # --loop-runs 0 skips the loop
        results = [fn() for _ in range(runs)]
        secs = statistics.median(t for t, _ in results)
        rss = statistics.median(m for _, m in results)
        rows.append((name, secs, rss, runs))
        print(f"{name}: {secs:.2f} s", file=sys.stderr, flush=True)
    if "cluster" in state:
        state["cluster"].close()
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
    secs_of = {name: secs for name, secs, _, _ in rows}
    lines += ["", "Cost per task: 200 images of 16x16 against one (the difference over 199 is",
              "the wall time each further image adds):", "",
              "| run | 200 images s | 1 image s | ms per further image |",
              "|---|---|---|---|"]  # fmt: skip
    for how in ("-j 1", "-j 2", "--cluster"):
        many, one = secs_of.get(f"tiny 200: kquant {how}"), secs_of.get(f"tiny 1: kquant {how}")
        if many is not None:
            slope = f"{1000 * (many - one) / 199:.1f}" if one is not None else ""
            single = f"{one:.2f}" if one is not None else ""
            lines.append(f"| kquant {how} | {many:.2f} | {single} | {slope} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
