"""Start-up benchmark (issue 25): what one kquant call costs, with and without a server.

Whole processes, side by side in one run, medians of ``--runs``; every kquant figure
twice: in process (``KQUANT_SERVER=off``, what a call costs without a server) and
through a server (``kquant server start`` before, ``kquant server stop`` after, in a
runtime directory of the benchmark's own); with ``--baseline KQUANT``, a third
column runs another kquant (an install of an earlier commit) in process:
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

Usage: python bench/startup.py [--runs 5] [--files 200] [--baseline PATH/bin/kquant]
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
import tempfile
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


def wall(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds for one whole process; fails loudly if it fails."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)  # fmt: skip
    return time.perf_counter() - t0


def median_wall(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    wall(cmd, env)  # the file cache warm, as in a script's second call
    return statistics.median(wall(cmd, env) for _ in range(runs))


def loop(commands: list[list[str]], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    for cmd in commands:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env)  # fmt: skip
    return time.perf_counter() - t0


class Modes:
    """The kquant commands compared: ``off`` in process, ``on`` through a server of a
    runtime directory of our own, and ``base`` (optional) another kquant in process."""

    def __init__(self, baseline: str | None) -> None:
        self.runtime = tempfile.mkdtemp(prefix="kq-bench-")
        common = {**os.environ, "XDG_RUNTIME_DIR": self.runtime}
        self.env = {"off": {**common, "KQUANT_SERVER": "off"},
                    "on": {**common, "KQUANT_SERVER": "on"}}  # fmt: skip
        self.exe = {"off": KQUANT, "on": KQUANT}
        if baseline:
            self.env["base"], self.exe["base"] = {**common, "KQUANT_SERVER": "off"}, baseline
        subprocess.run([KQUANT, "server", "start"], check=True, env=self.env["on"])

    def stop(self) -> None:
        subprocess.run([KQUANT, "server", "stop"], check=True, env=self.env["on"])
        shutil.rmtree(self.runtime, ignore_errors=True)

    def median(self, args: list[str], runs: int) -> dict[str, float]:
        return {m: median_wall([self.exe[m], *args], runs, self.env[m]) for m in self.env}

    def loop(self, calls: list[list[str]]) -> dict[str, float]:
        return {m: loop([[self.exe[m], *a] for a in calls], self.env[m]) for m in self.env}


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
    parser.add_argument("--baseline", help="another kquant command, run in process")
    args = parser.parse_args()
    for tool in ("pngquant", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/startup.py needs {tool} (apt-get install {tool})")
    files = photos(args.files)
    photo, small, out = files[0], small_image(), WORK / "out"
    out.mkdir(exist_ok=True)
    env_note = f"{os.cpu_count()} cores, {datetime.date.today()}"
    modes = Modes(args.baseline)
    rows = []

    def row(work: str, kquant_s: dict[str, float], peer: str, peer_s: float) -> None:
        r = {"work": work, "server_s": round(kquant_s["on"], 3),
             "in_process_s": round(kquant_s["off"], 3)}  # fmt: skip
        if "base" in kquant_s:
            r["baseline_s"] = round(kquant_s["base"], 3)
        r |= {"peer": peer, "peer_s": round(peer_s, 3),
              "ratio_server": round(kquant_s["on"] / peer_s, 2),
              "ratio_in_process": round(kquant_s["off"] / peer_s, 2)}  # fmt: skip
        rows.append(r)
        print(r, flush=True)

    try:
        for name, src in (("one 640x480 photo, k = 64", photo),
                          ("one 320x200 image, k = 64", small)):  # fmt: skip
            k = modes.median(["compress", str(src), "-k", "64", "-o", str(out / "k.png"),
                              "--force", "-q"], args.runs)  # fmt: skip
            p = median_wall(["pngquant", "64", "--force", "--output", str(out / "p.png"),
                             str(src)], args.runs)  # fmt: skip
            row(name, k, "pngquant", p)
        k = modes.loop([["compress", str(f), "-k", "64", "-o", str(out / f"{f.stem}-k.png"),
                         "--force", "-q"] for f in files])  # fmt: skip
        p = loop([["pngquant", "64", "--force", "--output", str(out / f"{f.stem}-p.png"),
                   str(f)] for f in files])  # fmt: skip
        row(f"{len(files)} photos of 640x480, one call per file", k, "pngquant", p)
        k = modes.median(["compress", str(ANIMATION), "-k", "64", "-o", str(out / "a.gif"),
                          "--force", "-q"], args.runs)  # fmt: skip
        f = median_wall(["ffmpeg", "-v", "error", "-y", "-i", str(ANIMATION), "-filter_complex",
                         "split[a][b];[a]palettegen=max_colors=64[p];[b][p]paletteuse",
                         str(out / "f.gif")], args.runs)  # fmt: skip
        row("one short animation (advi-anim.gif), 64 colors", k, "ffmpeg", f)
        k = modes.median(["--version"], args.runs)
        row("kquant --version (start-up alone)", k, "pngquant --version",
            median_wall(["pngquant", "--version"], args.runs))  # fmt: skip
    finally:
        modes.stop()
    alone = work_alone(photo, args.runs)
    print(f"the 640x480 photo's work alone (imports paid, in one process): {alone:.3f} s")

    dest = ROOT / "docs" / f"bench-startup-{datetime.date.today()}.csv"
    with open(dest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{env_note}; medians of {args.runs} (loops: one run); {dest.name}\n")
    base = "baseline_s" in rows[0]
    print("| work | with a server | in process |" + (" baseline |" if base else "")
          + " peer | with a server / peer | in process / peer |")  # fmt: skip
    print("|---|---|---|" + ("---|" if base else "") + "---|---|---|")
    for r in rows:
        print(f"| {r['work']} | {r['server_s']:.3f} s | {r['in_process_s']:.3f} s |"
              + (f" {r['baseline_s']:.3f} s |" if base else "")
              + f" {r['peer']} {r['peer_s']:.3f} s | {r['ratio_server']:.2f}x"
              f" | {r['ratio_in_process']:.2f}x |")  # fmt: skip
    print(f"\nthe 640x480 photo's work alone, in one process with everything imported: "
          f"{alone:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
