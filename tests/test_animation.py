"""Animations (issue 15): every frame kept, with its duration and the loop count, one
palette for all frames by default, per-frame palettes, transparency and disposal,
the GIF writer's changed regions; read back by Pillow and by ffmpeg."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess

import numpy as np
import pytest
from helpers import SAMPLES, blocks, kquant
from PIL import Image

#: Real animations shipped in sample_images/ (see its ATTRIBUTION.md).
GIF = SAMPLES / "advi-anim.gif"
WEBP = SAMPLES / "dog-anim.webp"
APNG = SAMPLES / "hello-anim.png"


def frames_of(path) -> tuple[list[np.ndarray], list[int], int | None]:
    """Every frame as Pillow composites it, (H, W, 4) uint8; durations (ms); loop."""
    with Image.open(path) as im:
        frames, durations = [], []
        for number in range(im.n_frames):
            im.seek(number)
            im.load()
            frames.append(np.asarray(im.convert("RGBA")).copy())
            durations.append(int(im.info.get("duration") or 0))
        return frames, durations, im.info.get("loop")


def mse_over(source: list[np.ndarray], written: list[np.ndarray]) -> float:
    sq = n = 0.0
    for a, b in zip(source, written, strict=True):
        visible = a[..., 3] > 0
        diff = a[..., :3].astype(np.float64) - b[..., :3]
        sq += float((diff[visible] ** 2).sum())
        n += 3 * int(visible.sum())
    return sq / n


def colors_of(frames: list[np.ndarray]) -> set[tuple[int, ...]]:
    colors: set[tuple[int, ...]] = set()
    for f in frames:
        visible = f[f[..., 3] > 0][:, :3]
        colors |= {tuple(c) for c in np.unique(visible, axis=0).tolist()}
    return colors


@pytest.mark.parametrize(
    ("source", "suffix"),
    [
        (GIF, ".gif"),
        (WEBP, ".webp"),
        (APNG, ".png"),
        (GIF, ".png"),
        (APNG, ".gif"),
        (WEBP, ".gif"),
    ],
    ids=["gif", "webp", "apng", "gif-to-apng", "apng-to-gif", "webp-to-gif"],
)
def test_every_frame_kept_with_timing_and_one_palette(tmp_path, source, suffix):
    out = tmp_path / f"out{suffix}"
    ran = kquant("compress", source, "-k", "16", "-o", out, "--json")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    src, src_durations, src_loop = frames_of(source)
    got, durations, loop = frames_of(out)
    assert len(got) == len(src) == report["frames"] == report["frames_out"] > 1
    if suffix == ".gif":  # hundredths of a second, rounded so that the total stays
        assert all(abs(d - s) < 10 for d, s in zip(durations, src_durations, strict=True))
        assert abs(sum(durations) - sum(src_durations)) < 10
    else:
        assert durations == src_durations
    # Pillow's loop: a GIF without a loop block plays once; WebP and APNG count plays
    assert loop == src_loop
    assert len(colors_of(got)) <= 16 == report["k"]  # one palette shared by all frames
    assert report["colors_out"] == len(colors_of(got))
    assert mse_over(src, got) == pytest.approx(report["mse"], rel=1e-9)  # the report is the file
    assert "animation of" in ran.stderr and "one palette for all frames" in ran.stderr


def test_per_frame_palettes_in_gif(tmp_path):
    shared, own = tmp_path / "shared.gif", tmp_path / "own.gif"
    plain = ("-k", "8", "--dither", "none", "--space", "rgb")  # MSE-minimal: the fit alone
    assert kquant("compress", WEBP, *plain, "-o", shared).returncode == 0
    ran = kquant("compress", WEBP, *plain, "-o", own, "--frame-palette", "per-frame", "--json")
    assert ran.returncode == 0, ran.stderr
    src = frames_of(WEBP)[0]
    per_frame = frames_of(own)[0]
    assert all(len(colors_of([f])) <= 8 for f in per_frame)
    assert len(colors_of(per_frame)) > 8  # the frames' palettes differ
    assert mse_over(src, per_frame) < mse_over(src, frames_of(shared)[0])
    assert mse_over(src, per_frame) == pytest.approx(json.loads(ran.stdout)["mse"], rel=1e-9)


def moving_squares(tmp_path, name="squares.png", repeat_last=False):
    """An RGBA animation of two noisy squares moving over a transparent background,
    each frame shown for a different time; the known answer for transparency and
    disposal (pixels that turn transparent again). ``repeat_last`` adds a seventh
    frame equal to the sixth but for one pixel one level brighter (Pillow's writers
    fold equal frames together), the same once quantized."""
    rng = np.random.default_rng(0)
    frames = []
    for i in range(6):
        a = np.zeros((30, 40, 4), np.uint8)
        a[5:15, 3 + 5 * i : 13 + 5 * i] = (200, 30, 30, 255)
        a[18:26, 30 - 4 * i : 38 - 4 * i] = (20, 20, 220, 255)
        noise = rng.integers(-8, 9, a[..., :3].shape)
        a[..., :3] = np.clip(a[..., :3] + noise, 0, 255) * (a[..., 3:] > 0)
        frames.append(Image.fromarray(a, "RGBA"))
    if repeat_last:
        last = np.asarray(frames[-1]).copy()
        last[8, 30, 0] += 1
        frames.append(Image.fromarray(last, "RGBA"))
    path = tmp_path / name
    durations = [100, 120, 140, 160, 180, 200, 220][: len(frames)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=3)
    return path


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_transparency_and_disposal(tmp_path, suffix):
    source = moving_squares(tmp_path)
    out = tmp_path / f"out{suffix}"
    assert kquant("compress", source, "-k", "8", "-o", out).returncode == 0
    src, src_durations, _ = frames_of(source)
    got, durations, loop = frames_of(out)
    assert durations == src_durations and loop == 3
    for a, b in zip(src, got, strict=True):  # transparent exactly where the source is
        assert np.array_equal(a[..., 3] > 0, b[..., 3] > 0)


def test_identical_frames_are_kept_as_frames(tmp_path):
    source = moving_squares(tmp_path, repeat_last=True)
    for suffix in (".gif", ".png"):
        out = tmp_path / f"out{suffix}"
        assert kquant("compress", source, "-k", "8", "-o", out).returncode == 0
        got, durations, _ = frames_of(out)
        assert len(frames_of(source)[0]) == 7
        assert len(got) == 7 and durations[-2:] == [200, 220]
        assert np.array_equal(got[-1], got[-2])


def test_gif_stores_only_changed_regions(tmp_path):
    """The screencast's frames change only around the face: each later frame is a
    small rectangle, and the file is smaller than full frames would be."""
    out = tmp_path / "out.gif"
    assert kquant("compress", APNG, "-k", "32", "-o", out).returncode == 0
    with Image.open(out) as im:
        width, height = im.size
        areas = []
        for number in range(1, im.n_frames):
            im.seek(number)
            x0, y0, x1, y1 = im.dispose_extent
            areas.append((x1 - x0) * (y1 - y0))
    assert max(areas) < 0.65 * width * height and sum(areas) < 0.5 * len(areas) * width * height
    full = tmp_path / "full.gif"
    frames = [Image.fromarray(f) for f in frames_of(out)[0]]
    first = frames[0].convert("RGB").quantize(256)
    frames[0].convert("RGB").save(full, save_all=True, optimize=False, disposal=1,
                                  append_images=[f.convert("RGB").quantize(palette=first)
                                                 for f in frames[1:]])  # fmt: skip
    assert out.stat().st_size < 0.8 * full.stat().st_size


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason=".ci/run installs ffmpeg")
@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_ffmpeg_reads_what_pillow_reads(tmp_path, suffix):
    """ffmpeg decodes kquant's GIF and APNG to the same frames as Pillow (ffmpeg 5.1 has
    no animated WebP decoder)."""
    source = moving_squares(tmp_path)
    out = tmp_path / f"out{suffix}"
    assert kquant("compress", source, "-k", "6", "-o", out).returncode == 0
    got = frames_of(out)[0]
    height, width = got[0].shape[:2]
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-fps_mode", "passthrough", "-f", "rawvideo",
         "-pix_fmt", "rgba", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    decoded = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 4)
    assert len(decoded) == len(got)
    for a, b in zip(decoded, got, strict=True):
        assert np.array_equal(a[..., 3] > 0, b[..., 3] > 0)
        visible = b[..., 3] > 0
        assert np.array_equal(a[visible, :3], b[visible, :3])


def test_first_frame_only_when_asked(tmp_path):
    out = tmp_path / "one.png"
    ran = kquant("compress", GIF, "-k", "8", "-o", out, "--first-frame", "--json")
    assert ran.returncode == 0
    report = json.loads(ran.stdout)
    assert report["frames"] == 46 and report["frames_out"] == 1
    with Image.open(out) as im:
        assert getattr(im, "n_frames", 1) == 1
    assert "first of 46 frames" in ran.stderr


def test_animation_is_deterministic_and_keeps_colors(tmp_path):
    a, b = tmp_path / "a.gif", tmp_path / "b.gif"
    for out in (a, b):
        ran = kquant("compress", WEBP, "-k", "8", "-o", out, "--keep-color", "#ff0000",
                     "--dither", "floyd-steinberg")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as im:
        palette = np.array(im.getpalette()).reshape(-1, 3).tolist()
    assert [255, 0, 0] in palette


def test_frames_count_toward_one_palette_in_the_library(tmp_path):
    """kquant.run.shared.image_histogram counts every frame, so an animation in a shared
    palette weighs by all its pixels."""
    from kquant.run.shared import image_histogram

    hist, alpha = image_histogram(moving_squares(tmp_path))
    assert hist.n_pixels == sum(int((f[..., 3] > 0).sum()) for f in frames_of(
        tmp_path / "squares.png")[0])  # fmt: skip
    assert alpha


def test_gif_colors_above_256_are_refused_before_work(tmp_path):
    frames = [Image.fromarray(blocks(16, 16, seed=s)) for s in range(2)]
    src = tmp_path / "a.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:])
    ran = kquant("compress", src, "-k", "300", "-o", tmp_path / "o.gif")
    assert ran.returncode == 2 and "at most 256" in ran.stderr
    assert not (tmp_path / "o.gif").exists()


def test_animation_onto_a_given_palette_and_through_pipes(tmp_path):
    palette = tmp_path / "p.txt"
    palette.write_text("#000000\n#ffffff\n#d04020\n#2040d0\n")
    out = tmp_path / "out.gif"
    assert kquant("compress", GIF, "--palette", palette, "-o", out).returncode == 0
    allowed = {(0, 0, 0), (255, 255, 255), (208, 64, 32), (32, 64, 208)}
    assert colors_of(frames_of(out)[0]) <= allowed
    ran = kquant("compress", "-", "-k", "8", "-o", "-", input=WEBP.read_bytes())
    assert ran.returncode == 0, ran.stderr
    piped = tmp_path / "piped.png"
    piped.write_bytes(ran.stdout_bytes)
    assert len(frames_of(piped)[0]) == 10


def test_palette_of_an_animation_is_the_one_its_frames_get(tmp_path):
    exported = tmp_path / "p.txt"
    ran = kquant("palette", GIF, "-k", "8", "--export", exported)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "out.png"  # APNG: the palette written as fitted
    assert kquant("compress", GIF, "-k", "8", "-o", out).returncode == 0
    with Image.open(out) as im:
        written = np.array(im.getpalette()).reshape(-1, 3)[:8].tolist()
    from kquant.io.palettes import read_palette

    assert read_palette(exported).tolist() == written
    note = kquant("compare", GIF, "-k", "4", "--methods", "random")
    assert note.returncode == 0 and "the first of its 46 frames is used" in note.stderr


def test_dithered_frames_keep_still_parts_still_and_follow_a_fade(tmp_path):
    """Dithering (the default since issue 22) diffuses error from a moving object into
    the still background around it; pixels that did not change keep their row, so
    the noise stays still and GIF frames store only what moved. A pixel whose
    nearest palette color changed is not held, so a slow fade still moves on."""
    ramp = np.tile(np.linspace(30, 220, 64), (40, 1))
    background = np.dstack([ramp, 0.8 * ramp + 20, 255 - ramp]).round().astype(np.uint8)
    moving, fading = [], []
    for i in range(6):
        a = background.copy()
        a[4:12, 4 + 6 * i : 12 + 6 * i] = (250, 40, 40)
        moving.append(Image.fromarray(a))
    for i in range(12):  # a gray ramp one level brighter a frame, in 4 colors
        gray = np.tile(np.linspace(90, 140, 64), (40, 1))[..., None] + i
        fading.append(Image.fromarray(np.repeat(gray, 3, axis=2).round().astype(np.uint8)))
    for name, frames in (("moving.png", moving), ("fading.png", fading)):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=100)
        out = tmp_path / f"out-{name}"
        ran = kquant("compress", tmp_path / name, "-k", "16" if name == "moving.png" else "4",
                     "-o", out, "--json")  # fmt: skip
        assert ran.returncode == 0 and json.loads(ran.stdout)["dither"] == "floyd-steinberg"
        got = [f[..., :3].astype(int) for f in frames_of(out)[0]]
        src = [np.asarray(f).astype(int) for f in frames]
        assert len(got) == len(src)
        if name == "moving.png":
            for (a, b), (x, y) in zip(
                itertools.pairwise(src), itertools.pairwise(got), strict=True
            ):
                still = (a == b).all(axis=2)
                assert still.mean() > 0.9 and (x[still] == y[still]).all()
                assert not (x == y).all()  # the square moved
        else:  # each frame within HOLD_CHANGE of the one before, yet the output follows
            # (held rows compared with the frame before instead: 5.9 levels behind)
            assert abs(got[-1].mean() - src[-1].mean()) < 3


def test_an_animation_is_dithered_unless_its_palette_holds_every_color(tmp_path):
    """Dithering is skipped only when the palette holds every color exactly, alpha
    included (a red sprite fading in has one RGB color but many alphas)."""
    frames = []
    for i in range(3):
        a = np.zeros((24, 32, 4), np.uint8)
        a[..., 0] = 200
        a[..., 3] = np.tile(np.linspace(8, 255, 32), (24, 1)).round().astype(np.uint8) - i
        frames.append(Image.fromarray(a, "RGBA"))
    frames[0].save(tmp_path / "fade.png", save_all=True, append_images=frames[1:], duration=90)
    ran = kquant("compress", tmp_path / "fade.png", "-k", "4", "-o", tmp_path / "o.webp",
                 "--json")  # fmt: skip
    row = json.loads(ran.stdout)
    assert row["dither"] == "floyd-steinberg" and row["mse"] == 0.0  # RGB exact, alpha not
    assert any("pixels that did not change kept" in note for note in row["notes"])
    own = kquant("compress", tmp_path / "fade.png", "-k", "4", "-o", tmp_path / "p.webp",
                 "--frame-palette", "per-frame", "--json")  # fmt: skip
    assert any("frame by frame" in note for note in json.loads(own.stdout)["notes"])
    exact = kquant("compress", tmp_path / "fade.png", "-k", "256", "-o", tmp_path / "q.webp",
                   "--json")  # fmt: skip
    assert json.loads(exact.stdout)["dither"] == "none"  # every RGBA color in the palette


def test_per_frame_gif_palettes_keep_255_colors_whatever_k_in_the_library():
    """quantize_animation takes any k (compress_file refuses k > 256 for GIF): with
    per-frame palettes each GIF frame gets at most 255 colors beside the entry for
    unchanged pixels, so k = 300 writes the same file as k = 256."""
    import io

    import kquant

    rng = np.random.default_rng(0)  # 576 colors a frame: more than a GIF table holds
    frames = [Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)) for _ in range(2)]
    source = io.BytesIO()
    frames[0].save(source, "PNG", save_all=True, append_images=frames[1:], duration=100)
    written = {}
    for k in (256, 300):
        settings = kquant.CompressSettings().replace(
            k=k, frame_palette="per-frame", dither="none", method="random", seed=0
        )
        source.seek(0)
        out = io.BytesIO()
        result = kquant.quantize_animation(source, out, "GIF", settings)
        assert result.per_frame and result.written
        written[k] = out.getvalue()
    assert written[300] == written[256]
    got = frames_of(io.BytesIO(written[300]))[0]
    assert len(got) == 2 and all(len(colors_of([f])) <= 255 for f in got)
