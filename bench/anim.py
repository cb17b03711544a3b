"""Animations: kquant against ffmpeg, gifsicle and ImageMagick, and shared palettes.

Sources are real: frames of videos that Debian packages ship (a phone video and a
screencast from ``forensics-samples-files``, a 3-D render from ``gem-doc``, a game
screencast from ``five-or-more``), cut and scaled by ffmpeg and stored as lossless
APNG (the reference every output is measured against), plus the animated GIF logo of
``advi`` as shipped. Each tool makes an animated GIF at k colors, as a whole process:

- ``kquant``: ``kquant compress SRC -k K -o OUT.gif`` (no dithering), and with
  ``--frame-palette per-frame`` (a palette per frame, as ImageMagick's ``-colors``
  makes for a sequence);
- ``ffmpeg`` / ``ffmpeg-dither``: ``palettegen=stats_mode=full:max_colors=K`` and
  ``paletteuse`` with ``dither=none`` / its default (sierra2_4a), one command;
- ``gifsicle``: ``gifsicle -O3 --colors K`` on a GIF of the frames with a 256-color
  palette each (ffmpeg ``stats_mode=single``, ``new=1``, no dithering; gifsicle reads
  GIF only; making that GIF is not timed);
- ``imagemagick`` / ``imagemagick-opt``: ``convert FRAMES +dither -colors K OUT.gif``,
  and with ``-layers optimize``.

MSE and PSNR are over every frame as Pillow composites it, RGB of visible pixels,
against the source frames; bytes of the file; wall time and peak RSS (GNU time) are
medians of ``--runs`` runs. Also written: kquant's peak memory against the number of
frames (bounded decoding), and the shared-palette case: frames of a video saved one
by one, and corpus photos, each compressed with its own palette and with one
palette over the set (``--shared-palette``).

Usage: python bench/anim.py [--runs 3] [--k 64,256] [--out bench/work/anim]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import KQUANT, MSE_MINIMAL, run_once

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "anim"
DEBS = HERE / "work" / "debs"
CONVERT = "/usr/bin/convert"

#: name -> (package, file in it, ffmpeg input options, ffmpeg filter, frames)
VIDEOS = {
    "phone-dog": ("forensics-samples-files",
                  "usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4",
                  [], "fps=15,scale=480:-2:flags=lanczos", 22),
    "screencast": ("forensics-samples-files",
                   "usr/share/forensics-samples/original-files/movie2/movie-hello.mp4",
                   ["-ss", "2"], "fps=10,scale=480:-2:flags=lanczos", 30),
    "teapot-3d": ("gem-doc", "usr/share/gem/examples/data/anim-1.mov", [],
                  "fps=10", 30),
    "game": ("five-or-more", "usr/share/help/C/five-or-more/figures/glines-demo.ogv",
             ["-ss", "4"], "fps=10", 30),
}  # fmt: skip
GIF_SOURCES = {"advi-logo": ("advi", "usr/share/doc/advi/manual/advilogo.anim.gif")}

TOOLS = ["kquant", "kquant-per-frame", "ffmpeg", "ffmpeg-dither", "gifsicle", "imagemagick",
         "imagemagick-opt"]  # fmt: skip
FIELDS = ["tool", "animation", "frames", "k", "mse", "psnr", "bytes", "seconds", "max_rss_mb"]


def package_file(package: str, member: str) -> Path:
    """A file of a Debian package, fetched with ``apt-get download``."""
    folder = DEBS / package
    target = folder / member
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        if not list(folder.glob("*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=folder, check=True)
        deb = sorted(folder.glob("*.deb"))[-1]
        subprocess.run(["dpkg-deb", "-x", str(deb), str(folder)], check=True)
    return target


def sources() -> dict[str, Path]:
    """name -> lossless source animation (APNG, or the shipped GIF)."""
    WORK.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (package, member, before, vf, frames) in VIDEOS.items():
        target = WORK / f"{name}.png"
        if not target.exists():
            video = package_file(package, member)
            subprocess.run(["ffmpeg", "-v", "error", "-y", *before, "-i", str(video), "-vf", vf,
                            "-frames:v", str(frames), "-plays", "0", "-f", "apng",
                            str(target)], check=True)  # fmt: skip
        out[name] = target
    for name, (package, member) in GIF_SOURCES.items():
        target = WORK / f"{name}.gif"
        if not target.exists():
            shutil.copy(package_file(package, member), target)
        out[name] = target
    return out


def frames_of(path: Path, at: list[int] | None = None) -> list[np.ndarray]:
    """Every frame as Pillow composites it, (H, W, 4) uint8. With ``at`` (a source's
    frame start times, ms) and fewer frames than that, the frame shown at each time,
    times scaled to the same total: ffmpeg's GIF muxer and gifsicle fold equal frames
    together, and GIF delays are whole hundredths of a second."""
    with Image.open(path) as im:
        frames, starts, clock = [], [], 0
        for number in range(getattr(im, "n_frames", 1)):
            im.seek(number)
            im.load()
            frames.append(np.asarray(im.convert("RGBA")).copy())
            starts.append(clock)
            clock += int(im.info.get("duration") or 0)
    if at is None or len(at) == len(frames):
        return frames
    scale = (at[-1] + (at[-1] - at[-2] if len(at) > 1 else 0)) / max(clock, 1)
    shown = [max(0, int(np.searchsorted(starts, t / scale + 1, side="right")) - 1) for t in at]
    return [frames[i] for i in shown]


def start_times(path: Path) -> list[int]:
    """When each frame of a file starts, in ms."""
    with Image.open(path) as im:
        times, clock = [], 0
        for number in range(getattr(im, "n_frames", 1)):
            im.seek(number)
            times.append(clock)
            clock += int(im.info.get("duration") or 0)
        return times


def mse_over(source: list[np.ndarray], written: list[np.ndarray]) -> float:
    if len(source) != len(written):
        raise RuntimeError(f"{len(written)} frames written for {len(source)}")
    sq = n = 0.0
    for a, b in zip(source, written, strict=True):
        visible = a[..., 3] > 0
        diff = a[..., :3].astype(np.float64) - b[..., :3]
        sq += float((diff[visible] ** 2).sum())
        n += 3 * int(visible.sum())
    return sq / n


def helpers(name: str, src: Path) -> dict[str, Path]:
    """Inputs some tools need: the frames as PNG files (ImageMagick), a GIF with a
    256-color palette per frame (gifsicle)."""
    folder = WORK / f"{name}-frames"
    if not folder.exists():
        folder.mkdir()
        for i, frame in enumerate(frames_of(src)):
            Image.fromarray(frame).save(folder / f"{i:04d}.png")
    gif = WORK / f"{name}-256.gif"
    if not gif.exists():
        if src.suffix == ".gif":
            shutil.copy(src, gif)
        else:
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "apng", "-i", str(src),
                            "-filter_complex", "[0:v]split[a][b];[a]palettegen=stats_mode=single"
                            ":reserve_transparent=0[p];[b][p]paletteuse=new=1:dither=none",
                            str(gif)], check=True)  # fmt: skip
    return {"frames": folder, "gif": gif}


def command(tool: str, src: Path, extra: dict[str, Path], k: int, dst: Path) -> list[str]:
    delay = _delay_cs(src)
    fmt = ["-f", "apng"] if src.suffix == ".png" else []
    palettegen = f"palettegen=stats_mode=full:max_colors={k}"
    return {
        # the figures recorded before issue 22: kquant undithered (MSE_MINIMAL)
        "kquant": [KQUANT, "compress", str(src), "-k", str(k), "-o", str(dst), "--force", "-q",
                   *MSE_MINIMAL],
        "kquant-per-frame": [KQUANT, "compress", str(src), "-k", str(k), "-o", str(dst),
                             "--force", "-q", "--frame-palette", "per-frame", *MSE_MINIMAL],
        "ffmpeg": ["ffmpeg", "-v", "error", "-y", *fmt, "-i", str(src), "-filter_complex",
                   f"[0:v]split[a][b];[a]{palettegen}[p];[b][p]paletteuse=dither=none",
                   str(dst)],
        "ffmpeg-dither": ["ffmpeg", "-v", "error", "-y", *fmt, "-i", str(src),
                          "-filter_complex",
                          f"[0:v]split[a][b];[a]{palettegen}[p];[b][p]paletteuse", str(dst)],
        "gifsicle": ["gifsicle", "-O3", "--no-warnings", "--colors", str(k),
                     str(extra["gif"]), "-o", str(dst)],
        "imagemagick": [CONVERT, "-delay", delay, "-loop", "0",
                        *sorted(str(p) for p in extra["frames"].glob("*.png")), "+dither",
                        "-colors", str(k), str(dst)],
        "imagemagick-opt": [CONVERT, "-delay", delay, "-loop", "0",
                            *sorted(str(p) for p in extra["frames"].glob("*.png")), "+dither",
                            "-colors", str(k), "-layers", "optimize", str(dst)],
    }[tool]  # fmt: skip


def _delay_cs(src: Path) -> str:
    with Image.open(src) as im:
        return str(max(1, round(int(im.info.get("duration") or 100) / 10)))


def measure(tool, name, src, extra, k, runs, source_frames) -> dict:
    dst = WORK / "out" / f"{name}-{tool}-k{k}.gif"
    dst.parent.mkdir(exist_ok=True)
    cmd = command(tool, src, extra, k, dst)
    timed = [run_once(cmd) for _ in range(runs)]
    written = frames_of(dst, at=start_times(src))
    mse = mse_over(source_frames, written)
    return {
        "tool": tool,
        "animation": name,
        "frames": len(source_frames),
        "k": k,
        "mse": round(mse, 3),
        "psnr": round(10 * np.log10(255**2 / mse), 2) if mse else None,
        "bytes": dst.stat().st_size,
        "seconds": round(statistics.median(t for t, _ in timed), 3),
        "max_rss_mb": round(statistics.median(m for _, m in timed), 1),
    }


def frames_memory(src: Path, runs: int) -> list[dict]:
    """kquant's peak memory with 30, 60 and 120 frames of the screencast (its frames
    repeated): decoding is bounded, so memory grows by what is kept per frame only."""
    rows = []
    source = frames_of(src)
    for count in (30, 60, 120):
        path = WORK / f"screencast-x{count}.png"
        if not path.exists():
            ims = [Image.fromarray(source[i % len(source)]) for i in range(count)]
            ims[0].save(path, save_all=True, append_images=ims[1:], duration=100, loop=0)
        for suffix in (".gif", ".webp"):
            dst = WORK / "out" / f"frames-{count}{suffix}"
            cmd = [KQUANT, "compress", str(path), "-k", "64", "-o", str(dst), "--force", "-q"]
            timed = [run_once(cmd) for _ in range(runs)]
            seconds = round(statistics.median(t for t, _ in timed), 2)
            peak = round(statistics.median(m for _, m in timed), 1)
            rows.append({"frames": count, "format": suffix[1:], "seconds": seconds,
                         "max_rss_mb": peak})  # fmt: skip
    return rows


def gif_savings(name: str, k: int) -> dict:
    """Bytes of kquant's GIF of ``name`` at k written with every frame whole, with
    changed rectangles only, and as kquant writes it (rectangles plus unchanged
    pixels transparent): the same frames and palette through kquant.io.animation.GifWriter."""
    from kquant.core.colors import pack
    from kquant.io.animation import GifWriter

    path = WORK / "out" / f"{name}-kquant-k{k}.gif"
    frames = frames_of(path)
    durations = [int(d) for d in _durations(path)]
    colors = np.unique(np.concatenate([f.reshape(-1, 4) for f in frames]), axis=0)
    visible = colors[colors[:, 3] > 0]
    palette = visible[:, :3]
    transparent = palette.shape[0] if len(visible) < len(colors) else None
    if transparent is not None:
        palette = np.vstack([palette, [[0, 0, 0]]]).astype(np.uint8)
    keys = pack(np.ascontiguousarray(visible))
    order = np.argsort(keys)  # rows sorted as colors, not as keys
    sizes = {}
    for level, label in ((0, "whole"), (1, "rectangles"), (2, "kquant")):
        writer = GifWriter(frames[0].shape[1], frames[0].shape[0], 0, optimize=level)
        for frame, duration in zip(frames, durations, strict=True):
            flat = frame.reshape(-1, 4)
            index = np.full(flat.shape[0], transparent or 0, np.uint8)
            seen = flat[:, 3] > 0
            found = np.searchsorted(keys[order], pack(np.ascontiguousarray(flat[seen])))
            index[seen] = order[found]
            writer.add(palette, index.reshape(frame.shape[:2]), transparent, duration)
        sizes[label] = len(writer.finish())
    return {"animation": name, "k": k, **sizes}


def _durations(path: Path) -> list[int]:
    with Image.open(path) as im:
        out = []
        for number in range(im.n_frames):
            im.seek(number)
            out.append(int(im.info.get("duration") or 0))
        return out


def shared_case(k: int) -> list[dict]:
    """MSE with a palette per image against one palette over the set."""
    rows = []
    sets = {}
    video = WORK / "phone-dog-frames"
    if video.exists():
        sets["video frames one by one"] = sorted(video.glob("*.png"))
    corpus_dir = HERE / "work" / "corpus"
    photos = sorted(corpus_dir.glob("*.png"))[:8] if corpus_dir.exists() else []
    if photos:
        small = WORK / "photos"
        small.mkdir(exist_ok=True)
        for p in photos:
            target = small / p.name
            if not target.exists():
                with Image.open(p) as im:
                    im = im.convert("RGB")
                    im.thumbnail((640, 640), Image.Resampling.LANCZOS)
                    im.save(target)
        sets["corpus photos"] = sorted(small.glob("*.png"))
    for label, files in sets.items():
        out_each, out_shared = WORK / "out" / "each", WORK / "out" / "shared"
        for folder, extra in ((out_each, []), (out_shared, ["--shared-palette"])):
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run([KQUANT, "compress", *map(str, files), "-k", str(k), "-o",
                            str(folder), "-q", *extra], check=True)  # fmt: skip
        mse = {}
        for name, folder in (("each", out_each), ("shared", out_shared)):
            values = []
            for f in files:
                a = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64)
                b = np.asarray(Image.open(folder / f"{f.stem}-k{k}.png").convert("RGB"))
                values.append(float(((a - b) ** 2).mean()))
            mse[name] = float(np.mean(values))
        rows.append({"set": label, "images": len(files), "k": k,
                     "mse_each": round(mse["each"], 2), "mse_shared": round(mse["shared"], 2),
                     "ratio": round(mse["shared"] / mse["each"], 3)})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--k", default="64,256")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--out", type=Path, default=HERE / "work" / "anim-results")
    ap.add_argument(
        "--tables-only",
        action="store_true",
        help="Reuse <out>.csv's rows; measure only memory, GIF sizes, sets.",
    )
    args = ap.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    tools = args.tools.split(",")
    rows = []
    if args.tables_only:
        with open(args.out.with_suffix(".csv"), newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append({f: row[f] if f in ("tool", "animation") else float(row[f] or 0)
                             for f in FIELDS})  # fmt: skip
        for row in rows:
            row["k"] = int(row["k"])
    for name, src in sources().items() if not args.tables_only else ():
        extra = helpers(name, src)
        source_frames = frames_of(src)
        for k in ks:
            for tool in tools:
                row = measure(tool, name, src, extra, k, args.runs, source_frames)
                rows.append(row)
                print(row, flush=True)
    if not args.tables_only:
        with open(args.out.with_suffix(".csv"), "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    sections = [summary(rows, k, tools) for k in ks]
    memory = frames_memory(sources()["screencast"], args.runs)
    table = ["| frames (k = 64) | output | s | peak MB |", "|---|---|---|---|"]
    table += [f"| {r['frames']} | {r['format']} | {r['seconds']} | {r['max_rss_mb']} |"
              for r in memory]  # fmt: skip
    sections.append("\n".join(table))
    savings = [gif_savings(name, 64) for name in sources()]
    table = ["| animation (k = 64) | whole frames | changed rectangles | kquant |",
             "|---|---|---|---|"]  # fmt: skip
    table += [f"| {r['animation']} | {r['whole']:,} | {r['rectangles']:,} | {r['kquant']:,} |"
              for r in savings]  # fmt: skip
    sections.append("\n".join(table))
    shared = shared_case(64)
    table = ["| set | images | k | MSE, a palette each | MSE, one shared | ratio |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    table += [f"| {r['set']} | {r['images']} | {r['k']} | {r['mse_each']} | {r['mse_shared']} "
              f"| {r['ratio']} |" for r in shared]  # fmt: skip
    sections.append("\n".join(table))
    text = "\n\n".join(sections)
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)


def summary(rows: list[dict], k: int, tools: list[str]) -> str:
    """Per animation at k: each tool's MSE, bytes, time; then medians of the ratios to
    kquant."""
    names = sorted({r["animation"] for r in rows})
    head = "| animation | frames | " + " | ".join(tools) + " |"
    lines = [f"k = {k}: MSE / KB / s / peak MB", head, "|---|---|" + "---|" * len(tools)]
    by = {(r["tool"], r["animation"]): r for r in rows if r["k"] == k}
    for name in names:
        cells = []
        for tool in tools:
            r = by[(tool, name)]
            cells.append(f"{r['mse']:.1f} / {r['bytes'] / 1024:.0f} / {r['seconds']:.2f} / "
                         f"{r['max_rss_mb']:.0f}")  # fmt: skip
        lines.append(f"| {name} | {by[(tools[0], name)]['frames']} | " + " | ".join(cells) + " |")
    ratio = []
    for field in ("mse", "bytes", "seconds"):
        medians = []
        for tool in tools:  # lossless results (MSE 0) have no ratio
            values = [by[(tool, n)][field] / by[("kquant", n)][field] for n in names
                      if by[("kquant", n)][field]]  # fmt: skip
            medians.append(f"{statistics.median(values):.2f}" if values else "n/a")
        ratio.append(f"| median {field} / kquant's | | " + " | ".join(medians) + " |")
    return "\n".join(lines + ratio)


if __name__ == "__main__":
    main()
