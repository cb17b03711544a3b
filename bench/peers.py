"""Python peers, each run as its own process so its imports count in its time.

Usage: python bench/peers.py TOOL INPUT.png OUTPUT.png K [SAMPLES]

TOOL is one of:
- ``imagequant``: libimagequant through PyPI ``imagequant``, ``dithering_level=0``;
- ``pillow-mediancut`` / ``pillow-fastoctree``: ``Image.quantize`` without dither
  (FASTOCTREE also handles RGBA; MEDIANCUT needs RGB, so RGBA is composited);
- ``classic``: the scikit-learn tutorial recipe: ``KMeans(n_clusters=K,
  random_state=0)`` on 1000 pixels (or SAMPLES) drawn by
  ``sklearn.utils.shuffle(random_state=0)``, then ``predict`` on every pixel; written
  as an indexed PNG.
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image


def imagequant(src: str, dst: str, k: int) -> None:
    import imagequant

    with Image.open(src) as im:
        out = imagequant.quantize_pil_image(
            im.convert("RGBA"), dithering_level=0.0, max_quality=100, min_quality=0,
            max_colors=k,
        )  # fmt: skip
    out.save(dst)


def pillow(src: str, dst: str, k: int, method: Image.Quantize) -> None:
    with Image.open(src) as im:
        if method == Image.Quantize.MEDIANCUT or im.mode != "RGBA":
            im = im.convert("RGB")
        im.quantize(colors=k, method=method, dither=Image.Dither.NONE).save(dst)


def classic(src: str, dst: str, k: int, n_samples: int = 1000) -> None:
    from sklearn.cluster import KMeans
    from sklearn.utils import shuffle

    with Image.open(src) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float64) / 255
    h, w, _ = rgb.shape
    pixels = rgb.reshape(-1, 3)
    sample = shuffle(pixels, random_state=0, n_samples=min(n_samples, len(pixels)))
    model = KMeans(n_clusters=k, random_state=0).fit(sample)
    labels = model.predict(pixels)
    palette = np.clip(np.rint(model.cluster_centers_ * 255), 0, 255).astype(np.uint8)
    out = Image.fromarray(labels.reshape(h, w).astype(np.uint8), mode="L")
    out.putpalette(palette.tobytes())
    out.save(dst)


def main() -> None:
    tool, src, dst, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if tool == "imagequant":
        imagequant(src, dst, k)
    elif tool == "pillow-mediancut":
        pillow(src, dst, k, Image.Quantize.MEDIANCUT)
    elif tool == "pillow-fastoctree":
        pillow(src, dst, k, Image.Quantize.FASTOCTREE)
    elif tool == "classic":
        classic(src, dst, k, *map(int, sys.argv[5:6]))
    else:
        sys.exit(f"unknown tool {tool}")


if __name__ == "__main__":
    main()
