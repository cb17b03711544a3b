"""Nothing lost under faults (issue 12): every bad input, option and fault gets one
line on stderr naming the problem, a documented exit code, no traceback, no partial or
overwritten file; signals, dead workers and full disks are handled.

The table :data:`CASES` is the place for a new bad-input class: one line each, with
the command (``{t}`` is the test's folder, holding the files :func:`world` makes), the
exit code, a fragment of the one stderr line, and the files that must and must not
exist afterwards. Faults that need a real process (signals, workers, a full disk)
have their own tests below.
"""

from __future__ import annotations

import functools
import os
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    blocks,
    cpu_seconds,
    fitting,
    huge_png,
    kquant,
    kquant_exe,
    live_processes,
    wait_for,
)
from PIL import Image


def png_with_rows(path: Path, width: int, height: int, rows: int) -> Path:
    """A well-formed RGB PNG whose compressed data holds only ``rows`` of its
    ``height`` rows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\0" + bytes([200, 100, 50] * width) for _ in range(rows))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip
    return path


def world(t: Path) -> None:
    """The files the cases use, in ``t``: made once per process (about 50 ms of
    encoding), then written out again for each case."""
    for name, kind, data in _world_entries():
        path = t / name
        if kind == "dir":
            path.mkdir()
        elif kind == "link":
            path.symlink_to(t / data.decode())
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(data)


@functools.cache
def _world_entries() -> tuple[tuple[str, str, bytes], ...]:
    """What :func:`_make_world` makes, parents first: (relative name, "dir", "link"
    (its target, relative), "fifo" or "file", bytes)."""
    entries = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        _make_world(root)
        for path in sorted(root.rglob("*"), key=lambda p: len(p.relative_to(root).parts)):
            name, mode = str(path.relative_to(root)), path.lstat().st_mode
            if stat.S_ISLNK(mode):
                entries.append((name, "link", str(path.readlink().relative_to(root)).encode()))
            elif stat.S_ISDIR(mode):
                entries.append((name, "dir", b""))
            elif stat.S_ISFIFO(mode):
                entries.append((name, "fifo", b""))
            else:
                entries.append((name, "file", path.read_bytes()))
    return tuple(entries)


def _make_world(t: Path) -> None:
    Image.fromarray(blocks(16, 16)).save(t / "img.png")
    rgba = np.dstack([blocks(16, 16), np.full((16, 16), 255, np.uint8)])
    rgba[:4, :, 3] = 0
    Image.fromarray(rgba).save(t / "rgba.png")
    (t / "in").mkdir()
    for i in range(2):
        Image.fromarray(blocks(16, 16, seed=i)).save(t / "in" / f"{i}.png")
    (t / "pair").mkdir()
    for name in ("0.png", "0-k4.png"):
        Image.fromarray(blocks(16, 16)).save(t / "pair" / name)
    (t / "noimages").mkdir()
    (t / "noimages" / "readme.txt").write_text("no images here")
    (t / "links").mkdir()
    Image.fromarray(blocks(16, 16)).save(t / "links" / "ok.png")
    (t / "links" / "gone.png").symlink_to(t / "links" / "nowhere.png")
    (t / "empty.png").write_bytes(b"")
    (t / "text.png").write_text("not an image\n")
    (t / "nl").mkdir()
    (t / "nl" / "bad\nname.png").write_text("not an image\n")  # a newline in its name
    Image.fromarray(blocks(64, 64)).save(t / "full.jpg", quality=90)
    (t / "trunc.jpg").write_bytes((t / "full.jpg").read_bytes()[:500])
    png_with_rows(t / "short.png", 50, 100, 10)
    png_with_rows(t / "whole.png", 50, 100, 100)
    huge_png(t / "bomb.png", 10_000, 9_000)
    huge_png(t / "giga.png", 100_000, 100_000)
    nan = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    nan[3, 3], nan[5, 5] = np.nan, np.inf
    Image.fromarray(nan, mode="F").save(t / "nan.tif")
    os.mkfifo(t / "fifo.png")
    (t / "pal.txt").write_text("#000000\n#ffffff\n")
    (t / "bad.txt").write_text("#ff0000\nnot-a-color\n")
    (t / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (t / "existing.png").write_bytes(b"keep me")
    (t / "old.csv").write_text("earlier rows\n")
    (t / "set.gpl").write_text("GIMP Palette\n0 0 0\tblack\n")
    frames = [Image.fromarray(blocks(16, 16, seed=i)) for i in range(3)]
    frames[0].save(t / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    data = (t / "anim.gif").read_bytes()
    (t / "cut-anim.gif").write_bytes(data[: len(data) * 3 // 4])  # ends in the third frame
    odd_files(t)


#: The 128-byte header of Pillow's ``unimplemented_pfflags.dds``: pixel format flags 8,
#: which Pillow's DDS plugin answers with NotImplementedError.
DDS_HEADER = bytes.fromhex(
    "444453207c00000007100a000001000000010000008000000000000001000000" + "00" * 44
    + "2000000008000000400000000000000000000000000000000000000000000000"
    + "0810400000000000000000000000000000000000"
)  # fmt: skip


def blocks_png_bytes() -> bytes:
    """A PNG of :func:`helpers.blocks`, as bytes (for standard input)."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(blocks(16, 16)).save(buffer, "PNG")
    return buffer.getvalue()


def gif_bytes(frames: list[Image.Image], screen: tuple[int, int] | None = None) -> bytes:
    """An animated GIF of ``frames`` (no frame folded into another), with its logical
    screen size set to ``screen`` if given (smaller than the frames: they reach
    beyond it)."""
    import io

    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], optimize=False,
                   duration=[10 + i for i in range(len(frames))], disposal=1)  # fmt: skip
    data = bytearray(buffer.getvalue())
    if screen is not None:
        data[6:10] = struct.pack("<2H", *screen)
    return bytes(data)


def odd_files(t: Path) -> None:
    """Files like the odd ones of Pillow's own test images (issue 21)."""
    (t / "pfflags.dds").write_bytes(DDS_HEADER + bytes(32768))
    exif = Image.Exif()
    exif[0x011A] = exif[0x011B] = 4294967295  # X/YResolution: 4294967295 dpi
    exif[0x0128] = 2
    Image.fromarray(blocks(16, 16)).save(t / "dpi.jpg", exif=exif)
    colors = [(255, 0, 0), (0, 0, 255), (0, 200, 0)]
    frames = [Image.new("RGB", (20, 20), colors[i % 3]) for i in range(3)]
    (t / "beyond.gif").write_bytes(gif_bytes(frames, screen=(10, 10)))
    tiny = [Image.new("RGB", (1, 1), colors[i % 2]) for i in range(40)]
    (t / "work-bomb.gif").write_bytes(gif_bytes(tiny, screen=(9000, 9000)))
    # a frame descriptor announcing 65535 x 65535 on a 10 x 10 screen
    one = bytearray(gif_bytes([Image.new("RGB", (10, 10), c) for c in colors[:2]]))
    second = one.index(b"\x2c", one.index(b"\x2c") + 1)  # the second image descriptor
    one[second + 5 : second + 9] = struct.pack("<2H", 65535, 65535)
    (t / "extent-bomb.gif").write_bytes(bytes(one))
    Image.fromarray(blocks(16, 16)).save(t / "plain.png")  # + an acTL chunk of 0 frames
    data = (t / "plain.png").read_bytes()
    actl = b"acTL" + struct.pack(">II", 0, 0)
    chunk = struct.pack(">I", 8) + actl + struct.pack(">I", zlib.crc32(actl))
    at = data.index(b"IDAT") - 4
    (t / "warn.png").write_bytes(data[:at] + chunk + data[at:])
    Image.fromarray(blocks(8, 8)).save(t / "webp.tif", compression="raw")
    data = bytearray((t / "webp.tif").read_bytes())  # compression tag -> 50001 (WebP)
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        if struct.unpack("<H", data[ifd + 2 + 12 * i : ifd + 4 + 12 * i])[0] == 259:
            data[ifd + 10 + 12 * i : ifd + 12 + 12 * i] = struct.pack("<H", 50001)
    (t / "webp.tif").write_bytes(bytes(data))
    first, second = Image.fromarray(blocks(10, 10)), Image.fromarray(blocks(30, 20, seed=1))
    first.save(t / "pages.tif", save_all=True, append_images=[second])  # 10x10, then 20x30
    names = [f"{i:06x}" for i in range(65537)]
    (t / "huge.txt").write_text("".join(f"#{n}\n" for n in names))


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    stderr: str
    exist: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    stdin: bytes | None = None
    unchanged: tuple[str, ...] = field(default=("existing.png", "old.csv", "img.png"))


def case(id, args, code, stderr, exist=(), absent=(), stdin=None):
    return Case(id, tuple(args.split()), code, stderr, tuple(exist), tuple(absent), stdin)


CASES = [
    # inputs
    case("missing-input", "compress {t}/nope.png -k 4", 2, "no such file"),
    case("empty-file", "compress {t}/empty.png -k 4", 1, "empty file", absent=["empty-k4.png"]),
    case("not-an-image", "compress {t}/text.png -k 4", 1, "not an image"),
    case("newline-in-name", "compress {t}/nl -k 4 -o {t}/nlo/ -q", 1,
         "nl/bad\\nname.png: not an image"),
    case("truncated-jpeg", "compress {t}/trunc.jpg -k 4", 1, "truncated or corrupt",
         absent=["trunc-k4.png"]),
    case("short-png-rows", "compress {t}/short.png -k 4", 1, "holds 10 of 100 rows",
         absent=["short-k4.png"]),
    case("complete-png", "compress {t}/whole.png -k 4", 0, "whole-k4.png", exist=["whole-k4.png"]),
    case("fifo", "compress {t}/fifo.png -k 4", 1, "not a regular file"),
    case("character-device", "compress /dev/null -k 4 -o {t}/o.png", 1, "not a regular file",
         absent=["o.png"]),
    case("folder-without-images", "compress {t}/noimages -k 4", 2, "no images found"),
    case("glob-matching-nothing", "compress {t}/*.webp", 2, "no file matches"),
    case("decompression-bomb", "compress {t}/bomb.png -k 4", 1, "--max-pixels",
         absent=["bomb-k4.png"]),
    case("bomb-under-a-raised-limit", "compress {t}/bomb.png -k 4 --max-pixels 100000000", 1,
         "truncated or corrupt", absent=["bomb-k4.png"]),
    case("missing-inputs-in-a-batch", "compress {t}/nope.png {t}/nope2.png", 2, "no such file"),
    case("stdin-and-a-file", "compress - {t}/img.png -o {t}/o", 2,
         "cannot be mixed with other inputs", stdin=b""),
    case("not-enough-memory", "compress {t}/giga.png -k 4 --max-pixels none", 1,
         "not enough memory", absent=["giga-k4.png"]),
    case("nan-samples", "compress {t}/nan.tif -k 4", 0, "NaN or infinite samples made black",
         exist=["nan-k4.png"]),
    case("broken-link-in-folder", "compress {t}/links -k 4 -j 1", 0, "1 other file ignored",
         exist=["links/ok-k4.png"]),
    case("stdin-empty", "compress - -o {t}/o.png", 1, "-: empty file", absent=["o.png"],
         stdin=b""),
    case("stdin-without-output", "compress - -k 4", 2, "needs -o", stdin=b"x"),
    # option values
    case("k-zero", "compress {t}/img.png -k 0", 2, "-k/--colors: k must be between 1"),
    case("k-too-large", "compress {t}/img.png -k 70000", 2, "-k/--colors"),
    case("k-not-a-number", "compress {t}/img.png -k many", 2, "'many' is not a number of colors"),
    case("sample-word", "compress {t}/img.png --sample lots", 2, "--sample"),
    case("sample-negative", "compress {t}/img.png --sample -5", 2, "--sample"),
    case("seed-negative", "compress {t}/img.png --seed -1", 2, "between 0 and 4294967295"),
    case("seed-too-large", "compress {t}/img.png --seed 4294967296", 2, "--seed"),
    case("seed-float", "compress {t}/img.png --seed 1e20", 2, "not a valid integer"),
    case("seed-in-palette", "palette {t}/img.png --seed -1", 2, "--seed"),
    case("seed-in-batch", "compress {t}/in --seed -1", 2, "--seed", absent=["in/0-k256.png"]),
    case("target-nan", "compress {t}/img.png --target-psnr nan", 2, "--target-psnr"),
    case("target-inf", "compress {t}/img.png --target-psnr inf", 2, "--target-psnr"),
    case("max-mse-nan", "compress {t}/img.png --max-mse nan", 2, "--max-mse"),
    case("both-targets", "compress {t}/img.png --target-psnr 30 --max-mse 5", 2, "not both"),
    case("palette-with-target", "compress {t}/img.png --palette {t}/pal.txt --target-psnr 30",
         2, "--palette: a given palette fixes the colors"),
    case("dither-strength", "compress {t}/img.png --dither-strength 1.5", 2,
         "--dither-strength"),
    case("space", "compress {t}/img.png --space hsv", 2, "--space"),
    case("metric", "compress {t}/img.png --metrics ssim,psnr", 2, "'psnr' is not one of"),
    case("foreign-option", "compress {t}/img.png --quality 60-80", 2, "--target-psnr"),
    # names and outputs
    case("name-format-spec", "compress {t}/in --name {stem:>400000000}.png", 2, "format spec"),
    case("name-attribute", "compress {t}/in --name {stem.__class__}.png", 2, "unknown field"),
    case("name-without-suffix", "compress {t}/in --name {stem}", 2, "output format",
         absent=["in/0"]),
    case("name-with-folder", "compress {t}/in --name a/{stem}.png", 2, "must give a file name"),
    case("unknown-suffix", "compress {t}/img.png -o {t}/out.xyz", 2, "suffix",
         absent=["out.xyz"]),
    case("file-like-output-for-a-batch", "compress {t}/in -o {t}/one.png", 2,
         "looks like a file", absent=["one.png"]),
    case("gif-above-256", "compress {t}/img.png -k 300 -o {t}/o.gif", 2, "at most 256",
         absent=["o.gif"]),
    case("alpha-into-jpeg", "compress {t}/rgba.png -k 4 -o {t}/o.jpg", 2, "transparency",
         absent=["o.jpg"]),
    case("json-and-image-on-stdout", "compress {t}/img.png -o - --json", 2, "cannot share"),
    case("existing-output", "compress {t}/img.png -k 4 -o {t}/existing.png", 1,
         "already exists (use --force"),
    case("output-is-input", "compress {t}/img.png -k 4 -o {t}/img.png", 2, "is the input"),
    case("output-folder-blocked", "compress {t}/img.png -o {t}/img.png/sub/o.png", 1,
         "cannot make its folder"),
    case("output-folder-unwritable", "compress {t}/img.png -o /sys/kquant-o.png", 1,
         "/sys/kquant-o.png"),
    case("two-inputs-one-output", "compress {t}/img.png {t}/in/0.png --name x.png -o {t}/o",
         2, "would both be written", absent=["o"]),
    case("input-is-another-output", "compress {t}/pair/0.png {t}/pair/0-k4.png -k 4", 2,
         "which is also an input of this run"),
    # reports
    case("existing-report", "compress {t}/img.png -k 4 --report {t}/old.csv", 1,
         "report already exists", absent=["img-k4.png"]),
    case("report-suffix", "compress {t}/img.png -k 4 --report {t}/r.txt", 2,
         "report must end in", absent=["img-k4.png", "r.txt"]),
    case("report-folder-blocked", "compress {t}/img.png -k 4 --report {t}/img.png/r.csv", 1,
         "cannot make its folder", absent=["img-k4.png"]),
    # palettes
    case("palette-missing", "compress {t}/img.png --palette {t}/nope.gpl", 2,
         "--palette: " + "{t}/nope.gpl: no such palette file"),
    case("palette-malformed", "compress {t}/img.png --palette {t}/bad.txt", 2, "bad.txt:2"),
    case("palette-deep-json", "compress {t}/img.png --palette {t}/deep.json", 2,
         "nested too deeply"),
    case("palette-bomb", "compress {t}/img.png --palette {t}/bomb.png", 1, "above the limit"),
    case("keep-color-not-a-color", "compress {t}/img.png --keep-color red", 2,
         "--keep-color: 'red' is neither a color"),
    case("keep-colors-above-k", "compress {t}/img.png -k 1 --keep-color #000000 --keep-color "
         "#ffffff", 2, "--keep-color: 2 kept colors do not fit in k=1", absent=["img-k1.png"]),
    case("shared-and-given-palette", "compress {t}/in --shared-palette --palette {t}/pal.txt",
         2, "give one of them", absent=["in/0-k256.png"]),
    case("export-without-shared", "compress {t}/img.png --export {t}/p.gpl", 2,
         "--shared-palette", absent=["p.gpl", "img-k256.png"]),
    case("shared-palette-file-exists", "compress {t}/in -k 4 --shared-palette --export "
         "{t}/set.gpl", 1, "already exists", absent=["in/0-k4.png"]),
    case("palette-above-65536", "compress {t}/img.png --palette {t}/huge.txt", 2,
         "huge.txt: this palette has 65,537 distinct colors; a palette holds at most 65,536"),
    # animations
    case("animation-into-jpeg", "compress {t}/anim.gif -k 4 -o {t}/o.jpg", 2,
         "cannot hold the 3 frames of {t}/anim.gif; write .gif, .webp or .png, or add "
         "--first-frame", absent=["o.jpg"]),
    case("animation-first-frame-jpeg", "compress {t}/anim.gif -k 4 -o {t}/o.jpg --first-frame",
         0, "first of 3 frames", exist=["o.jpg"]),
    case("per-frame-palettes-into-apng", "compress {t}/anim.gif -k 4 -o {t}/o.png "
         "--frame-palette per-frame", 2, "APNG frames share one palette", absent=["o.png"]),
    case("truncated-animation", "compress {t}/cut-anim.gif -k 4 -o {t}/o.gif", 1,
         "cut-anim.gif: truncated or corrupt", absent=["o.gif"]),
    case("animation-with-target", "compress {t}/anim.gif --target-psnr 30", 2,
         "quality targets take single images", absent=["anim-k256.png"]),
    # the analysis commands
    case("compare-method", "compare {t}/img.png --methods kmeans,octree", 2, "octree"),
    case("compare-bomb", "compare {t}/bomb.png", 1, "--max-pixels"),
    case("html-exists", "compress {t}/in -k 4 --html {t}/existing.png", 1,
         "existing.png: already exists (use --force", absent=["in/0-k4.png"]),
    case("compare-html-exists", "compare {t}/img.png -k 4 --html {t}/existing.png", 1,
         "existing.png: already exists (use --force"),
    # every file a run writes, planned together (issue 21)
    case("html-is-the-output", "compress {t}/img.png -k 4 -o {t}/o.png --html {t}/o.png", 2,
         "--html {t}/o.png is the same file as {t}/o.png (the output of", absent=["o.png"]),
    case("html-is-an-input", "compress {t}/img.png -k 4 --html {t}/img.png --force", 2,
         "--html {t}/img.png is the input", absent=["img-k4.png"]),
    case("report-is-an-input", "compress {t}/img.png {t}/old.csv -k 4 --report {t}/old.csv "
         "--force", 2, "--report {t}/old.csv is the input", absent=["img-k4.png"]),
    case("report-is-the-page", "compress {t}/img.png -k 4 --report {t}/x.csv --html {t}/x.csv",
         2, "is the same file as --report", absent=["x.csv", "img-k4.png"]),
    case("export-is-the-report", "compress {t}/in -k 4 --shared-palette --export {t}/r.jsonl "
         "--report {t}/r.jsonl", 2, "same file", absent=["r.jsonl", "in/0-k4.png"]),
    case("compare-sheet-is-the-page", "compare {t}/img.png -k 4 --side-by-side {t}/s.png "
         "--html {t}/s.png", 2, "same file", absent=["s.png"]),
    case("palette-export-is-the-input", "palette {t}/img.png -k 4 --export {t}/img.png "
         "--force", 2, "is the input"),
    case("sweep-plot-is-the-input", "sweep {t}/img.png -k 2,4 --plot {t}/img.png --force", 2,
         "is the input"),
    # odd files, like those of Pillow's own tests (issue 21)
    case("decoder-not-implemented", "compress {t}/pfflags.dds -k 4", 1,
         "pfflags.dds: cannot decode it (NotImplementedError", absent=["pfflags-k4.png"]),
    case("dpi-out-of-range", "compress {t}/dpi.jpg -k 4", 0,
         "resolution 4294967295x4294967295 dpi is out of range: not kept", exist=["dpi-k4.png"]),
    case("frames-beyond-the-screen", "compress {t}/beyond.gif -k 4 -o {t}/o.gif", 0,
         "20x20, animation of 3 frames", exist=["o.gif"]),
    case("frame-extent-bomb", "compress {t}/extent-bomb.gif -k 4 -o {t}/o.gif", 1,
         "a frame reaches 65535x65535", absent=["o.gif"]),
    case("animation-work-bomb", "compress {t}/work-bomb.gif -k 4 -o {t}/o.gif", 1,
         "40 frames of 9000x9000 is 3,240,000,000 pixels to decode", absent=["o.gif"]),
    case("animation-work-bomb-compare", "palette {t}/work-bomb.gif -k 4", 1,
         "pixels to decode"),
    case("libtiff-says-why", "compress {t}/webp.tif -k 4", 1,
         "webp.tif: truncated or corrupt image data (decoder error -2) (WEBP compression "
         "support is not configured.)", absent=["webp-k4.png"]),
    case("decoder-not-implemented-in-sweep", "sweep {t}/pfflags.dds -k 2,4", 1,
         "cannot decode it (NotImplementedError"),
    case("frames-beyond-the-screen-webp", "compress {t}/beyond.gif -k 4 -o {t}/o.webp", 0,
         "20x20, animation of 3 frames", exist=["o.webp"]),
    case("optimize-on-a-gif", "compress {t}/img.png -k 4 -O 2 -o {t}/o.gif", 0,
         "-O 2 not applied: oxipng optimizes still PNGs, not GIF", exist=["o.gif"]),
    case("html-over-an-odd-file", "compress {t}/pfflags.dds {t}/img.png -k 4 -q -o {t}/h --html "
         "{t}/h.html", 1, "pfflags.dds: cannot decode it", exist=["h.html", "h/img-k4.png"]),
    case("shared-palette-hears-pillow", "compress {t}/warn.png {t}/img.png -k 4 -o {t}/sp "
         "--shared-palette", 0, "kquant: warning: {t}/warn.png: Invalid APNG",
         exist=["sp/img-k4.png"]),
    case("palette-image-hears-pillow", "compress {t}/img.png --palette {t}/warn.png -o {t}/o.png",
         0, "kquant: warning: {t}/warn.png: Invalid APNG", exist=["o.png"]),
    case("optimize-on-a-webp-animation", "compress {t}/anim.gif -k 4 -O 2 -o {t}/o.webp", 0,
         "-O 2 not applied: oxipng optimizes still PNGs, not WEBP", exist=["o.webp"]),
    case("optimize-on-an-apng", "compress {t}/anim.gif -k 4 -O 2 -o {t}/o.png", 0,
         "-O 2 not applied: oxipng optimizes still PNGs, not an animated PNG", exist=["o.png"]),
    case("pages-of-other-sizes", "compress {t}/pages.tif -k 4 -o {t}/o.gif", 0,
         "frames of other sizes than the first (10x10): all placed on a 20x30 canvas",
         exist=["o.gif"]),
    case("a-page-above-the-limit", "compress {t}/pages.tif -k 4 -o {t}/o.gif --max-pixels 500",
         1, "a frame reaches 20x30 = 600 pixels, above the limit of 500", absent=["o.gif"]),
    case("stdin-with-a-shared-palette-file", "compress - --shared-palette --export {t}/sx.gpl "
         "-o {t}/sx.png", 2, "not - (standard input/output)", absent=["sx.gpl", "sx.png"],
         stdin=blocks_png_bytes()),
    case("misuse-of-one-input-leaves-no-report", "compress {t}/img.png -k 300 -o {t}/u.gif "
         "--report {t}/u.csv --html {t}/u.html", 2, "at most 256",
         absent=["u.csv", "u.html", "u.gif"]),
    case("page-named-like-an-output-chosen-later", "compress {t}/in -o {t}/qt --target-psnr 20 "
         "--name {stem}-k{k}.png --html {t}/qt/0-k5.png", 2, "may be the output of",
         absent=["qt"]),
    case("compare-method-twice", "compare {t}/img.png --methods kmeans,kmeans", 2,
         "kmeans is given twice"),
    case("pillow-warning-is-a-note", "compress {t}/warn.png -k 4", 0,
         "note: warning: Invalid APNG, will use default PNG image if possible",
         exist=["warn-k4.png"]),
    case("pillow-warning-in-sweep", "sweep {t}/warn.png -k 2,4", 0,
         "kquant: warning: {t}/warn.png: Invalid APNG"),
    case("max-mse-against-min-psnr", "compress {t}/img.png --max-mse 10 --min-psnr 60", 2,
         "--min-psnr: the minimum PSNR 60 is above the PSNR of the MSE ceiling 10 (38.13 dB)"),
    case("compare-repeat-zero", "compare {t}/img.png --repeat 0", 2,
         "--repeat: repeat must be a whole number >= 1"),
    case("sweep-ks", "sweep {t}/img.png -k 0..4", 2, "not a list of k"),
    case("sweep-metric-sample", "sweep {t}/img.png --metric-sample 3", 2, "--metric-sample"),
    case("palette-image-missing", "palette {t}/nope.png", 2, "no such file"),
    case("palette-stdin-and-a-file", "palette - {t}/img.png", 2, "takes one image only"),
]  # fmt: skip


def _state(t: Path, names: tuple[str, ...]) -> dict[str, bytes | None]:
    return {n: (t / n).read_bytes() if (t / n).is_file() else None for n in names}


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_fault(tmp_path, c: Case):
    world(tmp_path)
    before = _state(tmp_path, c.unchanged)
    args = [a.replace("{t}", str(tmp_path)) for a in c.args]
    ran = kquant(*args, input=c.stdin)
    lines = [line for line in ran.stderr.splitlines() if line.startswith("kquant: ")]
    assert ran.returncode == c.code, ran.stderr
    assert c.stderr.replace("{t}", str(tmp_path)) in ran.stderr
    assert "Traceback" not in ran.stderr and "Warning" not in ran.stderr
    if c.code:
        assert len(lines) == 1 and lines[0].startswith("kquant: error: "), ran.stderr
        assert ran.stderr.strip() == lines[0]
    for name in c.exist:
        assert (tmp_path / name).exists(), name
    for name in c.absent:
        assert not (tmp_path / name).exists(), name
    assert _state(tmp_path, c.unchanged) == before  # nothing overwritten
    assert not list(tmp_path.rglob("*kquant-tmp*"))  # no temporary file left


def test_the_table_covers_at_least_forty_classes():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


# ------------------------------------------------------------ real processes


def _alive(pid: int) -> bool:
    return pid in live_processes()


def _pool_workers(pid: int) -> list[int]:
    """The live pool workers of kquant ``pid``: children of its fork server, itself a
    child of kquant (beside multiprocessing's resource tracker, which has none)."""
    processes = live_processes()
    children = {child for child, parent in processes.items() if parent == pid}
    return [worker for worker, parent in processes.items() if parent in children]


def _workers(pid: int, count: int) -> list[int]:
    """The ``count`` worker processes of kquant ``pid``, once started."""
    found: list[int] = []

    def started() -> bool:
        found[:] = _pool_workers(pid)
        return len(found) >= count

    wait_for(started, f"{count} workers", timeout=30)
    return found


#: CPU seconds of a pool worker early in its first :data:`SLOW` image: it starts as a
#: fork of a server that has imported everything, and has used 0.02-0.03 s when its
#: first job starts; a SLOW image takes about half a second of CPU, a tiny one 0.01 s.
_EARLY = (0.1, 0.35)


def _inside_images(pid: int, count: int, *, itself: bool = False) -> list[int]:
    """``count`` workers of kquant ``pid`` early in their first (slow) image, or,
    ``itself``, the process inside its image (:func:`helpers.fitting`), once they
    are: the moment to signal a run mid-job. Polls only the workers' own /proc
    entries once they are known, so a loaded machine's scan does not outlast the
    window."""
    if itself:
        wait_for(lambda: fitting(pid), "kquant inside its image")
        return [pid]
    workers = _workers(pid, count)
    seen: set[int] = set()  # each in the window once: they need not be at one poll

    def busy() -> bool:
        seen.update(p for p in workers if _EARLY[0] < cpu_seconds(p) < _EARLY[1])
        return len(seen) >= count

    wait_for(busy, f"{count} workers early in an image")
    return sorted(seen, key=cpu_seconds)[:count]  # the least advanced first


def _all_gone(pids: list[int]) -> bool:
    wait_for(lambda: not [p for p in pids if _alive(p)], "the workers to end", timeout=10)
    return True


def _slow_folder(root: Path, n: int = 4, slow: int | None = None) -> Path:
    """``n`` images, of which the first ``slow`` (all by default) are noise whose fit
    at :data:`SLOW` takes a few tenths of a second, after the worker's import of
    scikit-learn (half a second more); the others are tiny."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        size = 200 if slow is None or i < slow else 16
        noise = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(noise).save(root / f"{i}.png")
    return root


SLOW = ("-k", "128", "--n-init", "1")


def _start(*args: str | Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([kquant_exe(), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)  # fmt: skip


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_a_batch_like_ctrl_c(tmp_path, sig, code):
    src, out, report = _slow_folder(tmp_path / "in", 6), tmp_path / "out", tmp_path / "r.jsonl"
    proc = _start("compress", src, *SLOW, "-o", out, "-j", "2", "--report", report)
    workers = _inside_images(proc.pid, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == f"kquant: stopped by {signal.Signals(sig).name}"
    assert "Traceback" not in err
    assert _all_gone(workers)
    written = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert not [n for n in written if "kquant-tmp" in n]
    rows = report.read_text().splitlines() if report.exists() else []  # made with its 1st row
    assert len(rows) == len(written)  # a row for each finished image, and only those


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_one_image_leaves_no_temporary_file(tmp_path, sig):
    src = _slow_folder(tmp_path / "in", 1) / "0.png"
    proc = _start("compress", src, *SLOW, "-o", tmp_path / "o.png", "-j", "1")
    _inside_images(proc.pid, 1, itself=True)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert not list(tmp_path.glob("*kquant-tmp*")) and not (tmp_path / "o.png").exists()


def test_killed_kquant_takes_its_workers_with_it(tmp_path):
    src, out = _slow_folder(tmp_path / "in", 6), tmp_path / "out"
    proc = _start("compress", src, *SLOW, "-o", out, "-j", "2")
    workers = _inside_images(proc.pid, 2)
    helpers = [pid for pid, parent in live_processes().items() if parent == proc.pid]
    assert len(helpers) == 2  # the fork server and the resource tracker
    proc.kill()
    proc.communicate(timeout=60)
    assert _all_gone(workers)  # so nothing more is written
    assert _all_gone(helpers)
    assert not list(out.rglob("*kquant-tmp*")) if out.exists() else True


def test_a_dead_worker_costs_only_its_image(tmp_path):
    src, out, report = (
        _slow_folder(tmp_path / "in", 4, slow=2),
        tmp_path / "out",
        tmp_path / "r.csv",
    )
    proc = _start("compress", src, *SLOW, "-o", out, "-j", "2", "--report", report)
    os.kill(_inside_images(proc.pid, 1)[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "killed by SIGKILL" in err
    import csv

    with open(report, newline="") as fh:
        rows = list(csv.DictReader(fh))
    statuses = sorted(r["status"] for r in rows)
    assert len(rows) == 4 and statuses.count("error") == 1 and statuses.count("ok") == 3
    failed = next(r for r in rows if r["status"] == "error")
    assert "worker process died (killed by SIGKILL)" in failed["error"]
    assert len(list(out.glob("*.png"))) == 3 and not list(out.glob("*kquant-tmp*"))


def test_ctrl_c_to_the_whole_process_group(tmp_path):
    src, out = _slow_folder(tmp_path / "in"), tmp_path / "out"
    proc = _start("compress", src, *SLOW, "-o", out, "-j", "2", start_new_session=True)
    workers = _inside_images(proc.pid, 2)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "kquant: interrupted"
    assert _all_gone(workers)


def test_stdout_that_fills_up_is_one_error_line(tmp_path):
    Image.fromarray(blocks(16, 16)).save(tmp_path / "x.png")
    command = [kquant_exe(), "compress", tmp_path / "x.png", "-k", "4", "--json"]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "kquant: error: cannot write the output: No space left on device"
    )


def test_a_full_disk_for_the_report_loses_only_the_report(tmp_path, small_disk):
    src, out = _slow_folder(tmp_path / "in", 3), tmp_path / "out"
    ran = kquant("compress", src, "-k", "4", "-o", out, "-j", "1", "--report",
                 small_disk / "r.csv")  # fmt: skip
    assert ran.returncode == 1
    assert ran.stderr.count("cannot write the report: No space left on device") == 1
    assert "3 ok" in ran.stderr and len(list(out.glob("*.png"))) == 3


def test_a_full_disk_for_the_outputs_fails_each_image_cleanly(tmp_path, small_disk):
    src = _slow_folder(tmp_path / "in", 2, slow=0)  # the disk is full: any output fails
    ran = kquant("compress", src, "-k", "256", "-o", small_disk / "out", "-j", "1")
    assert ran.returncode == 1 and ran.stderr.count("kquant: error:") == 2
    assert not list(small_disk.rglob("*kquant-tmp*")) and not list(small_disk.rglob("*.png"))


def test_names_that_are_not_utf8_reach_the_report(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    name = os.fsdecode(b"caf\xe9.png")
    Image.fromarray(blocks(16, 16)).save(src / name)
    report = tmp_path / "r.csv"
    ran = kquant("compress", src, "-k", "4", "-o", tmp_path / "out", "--report", report,
                 "--json")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "caf\\udce9.png" in report.read_text(encoding="utf-8")
    assert (tmp_path / "out" / os.fsdecode(b"caf\xe9-k4.png")).exists()
    assert '"input": "' in ran.stdout and "\\udce9" in ran.stdout


if sys.platform != "linux":  # /proc, prctl and tmpfs are Linux's
    pytestmark = pytest.mark.skip(reason="the fault tests use Linux's /proc")


def test_sigint_to_a_worker_alone_or_ignored_by_the_run(tmp_path):
    """A worker interrupted while the run is not (SIGINT to its pid) is that image's
    error row, not a silent skip (was: "skipped", exit 0), and the worker goes on
    with the next images (was: it failed every image it took after). A run started
    with SIGINT ignored (a shell script's `kquant ... &`, nohup) ignores it in its
    workers too, and finishes (was: every image after the signal "skipped", exit 0)."""
    import csv

    src, report = _slow_folder(tmp_path / "in", 6, slow=2), tmp_path / "r.csv"
    proc = _start("compress", src, *SLOW, "-o", tmp_path / "a", "-j", "2", "--report", report)
    os.kill(_inside_images(proc.pid, 2)[0], signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err
    with open(report, newline="") as fh:
        statuses = sorted((r["status"], r["error"]) for r in csv.DictReader(fh))
    assert [s for s, _ in statuses] == ["error"] + ["ok"] * 5, statuses
    assert "its worker process was interrupted before it finished" in statuses[0][1]
    assert "1 failed" in err.strip().splitlines()[-1]

    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    # the signal reaches the workers as they start (tiny jobs: nothing else to wait for)
    small = _slow_folder(tmp_path / "small", 2, slow=0)
    proc = _start("compress", small, *SLOW, "-o", tmp_path / "b", "-j", "2",
                  start_new_session=True, preexec_fn=ignore_sigint)  # fmt: skip
    _workers(proc.pid, 2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["0-k128.png", "1-k128.png"]
