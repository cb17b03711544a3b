"""Start-up benchmark (issue 25): what one kquant call costs before any work.

Whole processes, side by side in one run, medians of ``--runs``:
- one call on a 640x480 photo and one on a 320x200 image, k = 64: ``kquant compress``
  against ``pngquant 64`` (both writing a PNG);
- a shell-style loop over ``--files`` photos of 640x480, one call per file, as a
  ``for f in *.png`` script or ``find -exec`` makes it, against the same loop of
  pngquant (the loop runs once: it takes a while);
- one short animation (sample_images/advi-anim.gif, 64 colors into a GIF) against
  ffmpeg's two-filter palette (palettegen + paletteuse, one process);
- the work alone: ``compress_file`` on the 640x480 photo in a process that has
  already imported kquant and scikit-learn (what a call costs once start-up is
  paid).

The photos are crops of sample_images/china.jpg resized to 640x480 (Lanczos), saved
as PNG under bench/work/startup/. Writes docs/bench-startup-DATE.csv
and prints a Markdown table for docs/BENCHMARKS.md.

Usage: python bench/startup.py [--runs 5] [--files 200]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work" / "startup"
KQUANT = shutil.which("kquant", path=str(Path(sys.executable).parent)) or "kquant"
ANIMATION = ROOT / "sample_images" / "advi-anim.gif"


def photos(count: int) -> list[Path]:
    """``count`` different 640x480 PNG photos (pngquant reads only PNG): crops of
    china.jpg sliding along its diagonal, made once."""
    WORK.mkdir(parents=True, exist_ok=True)
    paths = [WORK / f"photo-{i:03d}.png" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    with Image.open(ROOT / "sample_images" / "china.jpg") as im:
        im = im.convert("RGB")
        w, h = im.size
        for i, path in enumerate(paths):
            scale = 0.6 + 0.4 * ((i * 7) % 10) / 10
            cw, ch = int(w * scale), int(h * scale)
            x, y = (w - cw) * (i % 11) // 10, (h - ch) * (i % 13) // 12
            crop = im.crop((x, y, x + cw, y + ch)).resize((640, 480), Image.LANCZOS)
            crop.save(path)
    return paths


def small_image() -> Path:
    path = WORK / "small-320x200.png"
    if not path.exists():
        with Image.open(ROOT / "sample_images" / "china.jpg") as im:
            im.convert("RGB").resize((320, 200), Image.LANCZOS).save(path)
    return path


def wall(cmd: list[str]) -> float:
    """Seconds for one whole process; fails loudly if it fails."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def median_wall(cmd: list[str], runs: int) -> float:
    wall(cmd)  # the file cache warm, as in a script's second call
    return statistics.median(wall(cmd) for _ in range(runs))


def loop(commands: list[list[str]]) -> float:
    t0 = time.perf_counter()
    for cmd in commands:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def work_alone(photo: Path, runs: int) -> float:
    """Median seconds of ``compress_file`` in a process that imported everything."""
    script = f"""
import statistics, time
import sklearn.cluster
from kquant import compress_file
times = []
for i in range({runs} + 1):
    t0 = time.perf_counter()
    compress_file({str(photo)!r}, {str(WORK / "alone.png")!r}, k=64, overwrite=True)
    times.append(time.perf_counter() - t0)
print(statistics.median(times[1:]))
"""
    ran = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True)  # fmt: skip
    return float(ran.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    for tool in ("pngquant", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/startup.py needs {tool} (apt-get install {tool})")
    files = photos(args.files)
    photo, small, out = files[0], small_image(), WORK / "out"
    out.mkdir(exist_ok=True)
    env_note = f"{os.cpu_count()} cores, {datetime.date.today()}"
    rows = []

    def row(work: str, kquant_s: float, peer: str, peer_s: float) -> None:
        rows.append({"work": work, "kquant_s": round(kquant_s, 3), "peer": peer,
                     "peer_s": round(peer_s, 3), "ratio": round(kquant_s / peer_s, 2)})  # fmt: skip
        print(f"{work}: kquant {kquant_s:.3f} s, {peer} {peer_s:.3f} s", flush=True)

    for name, src in (("one 640x480 photo, k = 64", photo), ("one 320x200 image, k = 64", small)):
        k = median_wall([KQUANT, "compress", str(src), "-k", "64", "-o", str(out / "k.png"),
                         "--force", "-q"], args.runs)  # fmt: skip
        p = median_wall(["pngquant", "64", "--force", "--output", str(out / "p.png"), str(src)],
                        args.runs)  # fmt: skip
        row(name, k, "pngquant", p)
    k = loop([[KQUANT, "compress", str(f), "-k", "64", "-o", str(out / f"{f.stem}-k.png"),
               "--force", "-q"] for f in files])  # fmt: skip
    p = loop([["pngquant", "64", "--force", "--output", str(out / f"{f.stem}-p.png"), str(f)]
              for f in files])  # fmt: skip
    row(f"{len(files)} photos of 640x480, one call per file", k, "pngquant", p)
    k = median_wall([KQUANT, "compress", str(ANIMATION), "-k", "64", "-o", str(out / "a.gif"),
                     "--force", "-q"], args.runs)  # fmt: skip
    f = median_wall(["ffmpeg", "-v", "error", "-y", "-i", str(ANIMATION), "-filter_complex",
                     "split[a][b];[a]palettegen=max_colors=64[p];[b][p]paletteuse",
                     str(out / "f.gif")], args.runs)  # fmt: skip
    row("one short animation (advi-anim.gif), 64 colors", k, "ffmpeg", f)
    alone = work_alone(photo, args.runs)
    row("the 640x480 photo's work alone (imports paid)", alone, "pngquant", rows[0]["peer_s"])

    dest = ROOT / "docs" / f"bench-startup-{datetime.date.today()}.csv"
    with open(dest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{env_note}; medians of {args.runs} (loops: one run); {dest.name}\n")
    print("| work | kquant | peer | ratio |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['work']} | {r['kquant_s']:.3f} s | {r['peer']} {r['peer_s']:.3f} s "
              f"| {r['ratio']:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
