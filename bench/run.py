"""kquant against its peers: quality, size, time and memory, side by side.

Usage: python bench/run.py [--runs N] [--k 16,64,256] [--tools a,b] [--images a,b]
                           [--out bench/work/results]

Time and memory per megapixel, 1-100 MP, are bench/scale.py's.

Every tool is run as a whole process, from input file to output file, on the same
PNG inputs (made beforehand by bench/corpus.py). For each run we record the wall
time and the peak resident memory (``ru_maxrss`` of that child, from ``os.wait4``);
the time reported is the median of ``--runs`` runs. MSE is recomputed here from
the written file against the input, the same way for every tool: mean over
visible pixels (alpha > 0) and the RGB channels of the squared difference.

Prints one markdown table per k and writes the tables to ``<out>.md``. Every
measurement is merged into ``<out>.csv`` (replacing earlier rows of the same tool,
image and k), and the tables are made from all of it: ``--tools kquant`` measures
kquant again against the peers' stored rows.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus

HERE = Path(__file__).resolve().parent
PY = sys.executable
KQUANT = shutil.which("kquant", path=str(Path(PY).parent)) or "kquant"
GNU_TIME = "/usr/bin/time"
#: ImageMagick's own binary (a wrapper earlier on PATH would add its start-up time).
CONVERT = "/usr/bin/convert" if Path("/usr/bin/convert").exists() else "convert"

#: kquant's output with the lowest MSE, its default before issue 22: what the MSE
#: benchmarks compare with undithered peers (``pngquant --nofs``, ImageMagick
#: ``+dither``...). The default (the weighted space, Floyd-Steinberg) is measured as
#: ``kquant-default`` against ``pngquant-default`` here, and for how it looks by
#: bench/looks.py.
MSE_MINIMAL = ["--space", "rgb", "--dither", "none"]

#: name -> command template ({src}, {dst}, {k}); the reference peer is pngquant-s1.
TOOLS: dict[str, list[str]] = {
    "kquant": [KQUANT, "compress", "{src}", "-k", "{k}", "-o", "{dst}", "--force", "-q",
               *MSE_MINIMAL],
    "kquant-default": [KQUANT, "compress", "{src}", "-k", "{k}", "-o", "{dst}", "--force", "-q"],
    "pngquant-default": ["pngquant", "--force", "--output", "{dst}", "{k}", "{src}"],
    "pngquant": ["pngquant", "--nofs", "--force", "--output", "{dst}", "{k}", "{src}"],
    "pngquant-s1": ["pngquant", "--nofs", "--speed", "1", "--force", "--output", "{dst}",
                    "{k}", "{src}"],
    "imagequant": [PY, str(HERE / "peers.py"), "imagequant", "{src}", "{dst}", "{k}"],
    "pillow-mediancut": [PY, str(HERE / "peers.py"), "pillow-mediancut", "{src}", "{dst}", "{k}"],
    "pillow-fastoctree": [PY, str(HERE / "peers.py"), "pillow-fastoctree", "{src}", "{dst}",
                          "{k}"],
    "imagemagick": [CONVERT, "{src}", "+dither", "-colors", "{k}", "{dst}"],
    "classic-sklearn": [PY, str(HERE / "peers.py"), "classic", "{src}", "{dst}", "{k}"],
}  # fmt: skip
REFERENCE = "pngquant-s1"


@dataclass
class Row:
    tool: str
    image: str
    megapixels: float
    k: int
    mse: float
    psnr: float | None
    bytes: int
    seconds: float
    max_rss_mb: float
    runs: int


def run_once(cmd: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB).

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``), which forks from its
    own small process: ``ru_maxrss`` of a child forked from this (large) Python
    process would count the parent's pages it held before ``exec``.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", stats.name, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - t0
        lines = Path(stats.name).read_text().split()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-400:]}")
    return wall, int(lines[-1]) / 1024


def write_results(out: Path, rows: list, text: str) -> None:
    """Dataclass ``rows`` to ``<out>.csv`` (a column per field), the tables ``text`` to
    ``<out>.md`` and stdout."""
    with out.with_suffix(".csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, [f.name for f in fields(rows[0])])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    out.with_suffix(".md").write_text(text)
    print(text)


def load_rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def mse_of(original: np.ndarray, written: np.ndarray) -> float:
    visible = original[..., 3] > 0
    total, n = 0.0, 0
    for top in range(0, original.shape[0], 512):
        a = original[top : top + 512, :, :3].astype(np.int32)
        b = written[top : top + 512, :, :3].astype(np.int32)
        d = (a - b)[visible[top : top + 512]]
        total += float(np.einsum("ij,ij->", d, d, dtype=np.int64))
        n += d.size
    return total / n if n else 0.0


def measure(tool: str, src: Path, k: int, runs: int, out_dir: Path, original: np.ndarray) -> Row:
    dst = out_dir / f"{src.stem}-{tool}-k{k}.png"
    cmd = [part.format(src=src, dst=dst, k=k) for part in TOOLS[tool]]
    times, rss = [], []
    for _ in range(runs):
        dst.unlink(missing_ok=True)
        wall, peak = run_once(cmd)
        times.append(wall)
        rss.append(peak)
    mse = mse_of(original, load_rgba(dst))
    return Row(
        tool=tool,
        image=src.stem,
        megapixels=round(original.shape[0] * original.shape[1] / 1e6, 2),
        k=k,
        mse=mse,
        psnr=None if mse == 0 else 10 * math.log10(255**2 / mse),
        bytes=dst.stat().st_size,
        seconds=statistics.median(times),
        max_rss_mb=statistics.median(rss),
        runs=runs,
    )


def _ratio(a: float, b: float) -> float | None:
    if b == 0:
        return None if a else 1.0
    return a / b


def summary_table(rows: list[Row], k: int, tools: list[str]) -> str:
    """One markdown table for one k: medians over the corpus, ratios to pngquant -s1."""
    ref = {r.image: r for r in rows if r.k == k and r.tool == REFERENCE}
    lines = [
        f"### k = {k}",
        "",
        "| tool | median MSE / pngquant-s1 | median MSE | median PSNR dB | total bytes "
        "| median s | total s | median max RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tool in tools:
        mine = [r for r in rows if r.k == k and r.tool == tool]
        if not mine:
            continue
        ratios = [
            x for r in mine if r.image in ref and (x := _ratio(r.mse, ref[r.image].mse)) is not None
        ]
        psnrs = [r.psnr for r in mine if r.psnr is not None]
        lines.append(
            f"| {tool} | {f'{statistics.median(ratios):.3f}' if ratios else '-'} | "
            f"{statistics.median(r.mse for r in mine):.2f} | "
            f"{statistics.median(psnrs):.2f} | {sum(r.bytes for r in mine):,} | "
            f"{statistics.median(r.seconds for r in mine):.2f} | "
            f"{sum(r.seconds for r in mine):.1f} | "
            f"{statistics.median(r.max_rss_mb for r in mine):.0f} |"
        )
    return "\n".join(lines)


def image_table(rows: list[Row], image: str, k: int, tools: list[str]) -> str:
    """Per-tool rows for one image and k: the speed and memory targets."""
    lines = [
        f"### {image} at k = {k}",
        "",
        "| tool | MSE | PSNR dB | bytes | median s | max RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for tool in tools:
        for r in rows:
            if r.tool == tool and r.image == image and r.k == k:
                psnr = "inf" if r.psnr is None else f"{r.psnr:.2f}"
                lines.append(
                    f"| {tool} | {r.mse:.2f} | {psnr} | {r.bytes:,} | {r.seconds:.2f} "
                    f"| {r.max_rss_mb:.0f} |"
                )
    return "\n".join(lines)


def merge_rows(path: Path, new: list[Row]) -> list[Row]:
    """Merge new measurements into the CSV at ``path`` (a new row replaces the old one
    for the same tool, image and k), write it back, and return all rows. This lets
    one tool be measured again without re-running the peers."""
    rows: dict[tuple[str, str, int], Row] = {}
    if path.exists():
        with open(path, newline="") as fh:
            for d in csv.DictReader(fh):
                row = Row(
                    tool=d["tool"], image=d["image"], megapixels=float(d["megapixels"]),
                    k=int(d["k"]), mse=float(d["mse"]),
                    psnr=float(d["psnr"]) if d["psnr"] else None, bytes=int(d["bytes"]),
                    seconds=float(d["seconds"]), max_rss_mb=float(d["max_rss_mb"]),
                    runs=int(d["runs"]),
                )  # fmt: skip
                rows[(row.tool, row.image, row.k)] = row
    for row in new:
        rows[(row.tool, row.image, row.k)] = row
    merged = sorted(rows.values(), key=lambda r: (r.image, r.k, list(TOOLS).index(r.tool)))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Row)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in merged)
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", default="16,64,256")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--images", default="", help="comma-separated stems; default all")
    ap.add_argument("--out", default=str(HERE / "work" / "results"))
    args = ap.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    tools = args.tools.split(",")
    images = corpus.selected(args.images)
    out_dir = HERE / "work" / "outputs"
    out_dir.mkdir(parents=True, exist_ok=True)

    rows: list[Row] = []
    for src in images:
        original = load_rgba(src)
        for k in ks:
            for tool in tools:
                row = measure(tool, src, k, args.runs, out_dir, original)
                rows.append(row)
                print(
                    f"{src.stem:28} k={k:<4} {tool:18} mse {row.mse:9.3f} "
                    f"{row.bytes:>10,} B {row.seconds:6.2f} s {row.max_rss_mb:6.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = merge_rows(out.with_suffix(".csv"), rows)
    tools = [t for t in TOOLS if any(r.tool == t for r in rows)]
    ks = sorted({r.k for r in rows})

    parts = [summary_table(rows, k, tools) for k in ks]
    for image in ("photo-4mp", "kleiber-20mp"):
        if any(r.image == image for r in rows):
            parts.append(image_table(rows, image, max(ks), tools))
    text = "\n\n".join(parts) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
