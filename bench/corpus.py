"""Build the benchmark corpus in bench/work/corpus: real images, all as PNG.

Sources (nothing generated):
- sample_images/ (the shipped samples);
- images that installed packages ship: scikit-image's data folder and
  scikit-learn's sample images;
- real photos of 12 MP and more from Debian wallpaper packages, fetched with
  ``apt-get download`` (lomiri-wallpapers-16.04 and -20.04);
- ``photo-4mp.png``: one of those photos resized to 4 MP (Lanczos), for the
  speed target at 4 MP.

Every image is written as PNG beforehand (peers such as pngquant read only PNG), so
conversion is never part of a timing. Run: ``python bench/corpus.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
CORPUS = WORK / "corpus"

#: scikit-image data files used (real photos, micrographs and graphics).
SKIMAGE_FILES = [
    "chelsea.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg", "hubble_deep_field.jpg",
    "ihc.png", "logo.png", "color.png", "brick.png", "page.png",
]  # fmt: skip

#: (Debian package, file inside it, corpus name)
DEBIAN_PHOTOS = [
    ("lomiri-wallpapers-20.04", "Kleiber_by_Lukas_Baubkus.jpg", "kleiber-20mp"),
    ("lomiri-wallpapers-16.04", "seeding_by_Clements_Engelhardt.jpg", "seeding-16mp"),
    ("lomiri-wallpapers-16.04", "sunset_by_Aitzol_Berasategi.jpg", "sunset-12mp"),
]

#: The photo resized to 4 MP for the 4 MP speed target.
FOUR_MP_SOURCE = "seeding-16mp"


def _to_png(src: Path, name: str) -> None:
    dst = CORPUS / f"{name}.png"
    if dst.exists():
        return
    with Image.open(src) as im:
        im = im.convert("RGBA" if im.mode in ("RGBA", "LA", "PA") else "RGB")
        if im.mode == "RGBA" and im.getextrema()[3][0] == 255:
            im = im.convert("RGB")
        im.save(dst, compress_level=1)
    print(f"corpus: {dst.name} {im.size[0]}x{im.size[1]} {im.mode}", file=sys.stderr)


def _debian_file(package: str, member: str) -> Path:
    debs = WORK / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    target = debs / package / "usr" / "share" / "backgrounds" / member
    if target.exists():
        return target
    if not list(debs.glob(f"{package}_*.deb")):
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
    deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(debs / package)], check=True)
    return target


def build() -> list[Path]:
    """Create the corpus if needed; return its PNG files, sorted."""
    CORPUS.mkdir(parents=True, exist_ok=True)
    for src in sorted((ROOT / "sample_images").iterdir()):
        if src.suffix.lower() in (".png", ".jpg"):
            _to_png(src, src.stem)
    import skimage
    import sklearn

    skdata = Path(skimage.__file__).parent / "data"
    for name in SKIMAGE_FILES:
        _to_png(skdata / name, f"skimage-{Path(name).stem}")
    _ = Path(sklearn.__file__)  # china.jpg and flower.jpg are already in sample_images
    for package, member, name in DEBIAN_PHOTOS:
        _to_png(_debian_file(package, member), name)
    four = CORPUS / "photo-4mp.png"
    if not four.exists():
        with Image.open(CORPUS / f"{FOUR_MP_SOURCE}.png") as im:
            scale = (4_000_000 / (im.width * im.height)) ** 0.5
            size = (round(im.width * scale), round(im.height * scale))
            im.resize(size, Image.Resampling.LANCZOS).save(four, compress_level=1)
    return sorted(CORPUS.glob("*.png"))


def selected(stems: str) -> list[Path]:
    """The corpus (built if needed), or its images named in comma-separated ``stems``."""
    images = build()
    if not stems:
        return images
    wanted = set(stems.split(","))
    return [p for p in images if p.stem in wanted]


def scaled(megapixels: float) -> Path:
    """The 20 MP photo resized (Lanczos) to about ``megapixels`` MP, as PNG."""
    dst = WORK / "scaling" / f"kleiber-{megapixels:g}mp.png"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(CORPUS / "kleiber-20mp.png") as im:
            scale = (megapixels * 1e6 / (im.width * im.height)) ** 0.5
            size = (round(im.width * scale), round(im.height * scale))
            im.resize(size, Image.Resampling.LANCZOS).save(dst, compress_level=1)
    return dst


if __name__ == "__main__":
    for path in build():
        print(path)
    if "--clean-debs" in sys.argv:
        shutil.rmtree(WORK / "debs", ignore_errors=True)
