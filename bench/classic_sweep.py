"""Time to equal quality: the classic scikit-learn recipe with more and more pixels.

The classic recipe fits KMeans on 1000 pixels; with more pixels its MSE falls and
its time grows. For each image and k this runs it (whole process, median of
``--runs``) with 1,000, 10,000, 100,000, 300,000, 1,000,000 pixels and every pixel
(up to ``--max``),
next to kquant's default, and reports the fastest classic run whose MSE is at most
kquant's, and kquant's speed-up over it.

Usage: python bench/classic_sweep.py [--images china,astronaut] [--k 64,256] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus
from run import HERE, KQUANT, PY, load_rgba, mse_of, run_once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default="china,astronaut,skimage-rocket")
    ap.add_argument("--k", default="64,256")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max", type=int, default=400_000, help="largest sample tried")
    args = ap.parse_args()
    corpus.build()
    out = HERE / "work" / "outputs" / "sweep.png"
    lines = [
        "| image | k | kquant MSE | kquant s | classic pixels | classic MSE | classic s "
        "| classic s / kquant s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in args.images.split(","):
        src = corpus.CORPUS / f"{name}.png"
        original = load_rgba(src)
        n_pixels = original.shape[0] * original.shape[1]
        for k in map(int, args.k.split(",")):
            cmd = [KQUANT, "compress", str(src), "-k", str(k), "-o", str(out), "--force", "-q"]
            kq_s = statistics.median(run_once(cmd)[0] for _ in range(args.runs))
            kq_mse = mse_of(original, load_rgba(out))
            sizes = [n for n in (1_000, 10_000, 100_000, 300_000, 1_000_000) if n < n_pixels]
            sizes.append(n_pixels)
            for n in [s for s in sizes if s <= args.max]:
                cmd = [PY, str(HERE / "peers.py"), "classic", str(src), str(out), str(k), str(n)]
                secs = statistics.median(run_once(cmd)[0] for _ in range(args.runs))
                mse = mse_of(original, load_rgba(out))
                row = (
                    f"| {name} | {k} | {kq_mse:.2f} | {kq_s:.2f} | {n:,} | {mse:.2f} | "
                    f"{secs:.2f} | {secs / kq_s:.1f} |"
                )
                lines.append(row)
                print(row, file=sys.stderr, flush=True)
                if mse <= kq_mse:
                    break
    print("\n".join(lines))


if __name__ == "__main__":
    main()
