"""Rate-aware remapping, measured before it is built (issue 26).

Where a pixel's nearest palette row is not much nearer than another one that PNG
encodes more cheaply, taking the cheaper one trades a little error for bytes. Does it
pay, at equal PSNR, against simply taking fewer or more colors? For each photo this
script maps the same palettes (``kquant.quantize``, ``--space rgb --dither none``, at
each k of ``--ks``) plainly and with each candidate rule at each ``--lambdas`` (the
largest increase of a pixel's squared error, summed over RGB, the rule may spend),
encodes the indices as kquant's ``-O 2`` would (Pillow's PNG, then oxipng level 2),
measures PSNR and bytes, and prints, for each rule and lambda, the bytes against the
plain curve at the same PSNR (log-log interpolation between the plain k's): below 1.0
the rule beats choosing k.

Rules (each greedy, in the encoder's order, so a choice sees the final neighbours):
- ``left``: take the row of the pixel to the left (a run continues; deflate's
  matches grow);
- ``up``: take the row of the pixel above (PNG's Up filter gives zeros);
- ``left+up``: whichever of the two costs less error, if within lambda.

Usage: python bench/rate_mapping.py [--images photo-4mp,china] [--ks 64,96,128,192,256]
       [--lambdas 4,16,48] [--rules left,up,left+up]
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus

Image.MAX_IMAGE_PIXELS = None


def png_bytes(indices: np.ndarray, palette: np.ndarray) -> int:
    """Bytes of the P-mode PNG of ``indices`` after oxipng level 2 (kquant's ``-O 2``)."""
    import oxipng

    im = Image.fromarray(indices.astype(np.uint8), "P")
    im.putpalette(palette.astype(np.uint8).reshape(-1).tolist())
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return len(oxipng.optimize_from_memory(buf.getvalue(), level=2))


def squared_errors(pixels: np.ndarray, palette: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(H, W) int64 squared RGB error of each pixel as ``palette[rows]``."""
    diff = pixels.astype(np.int64) - palette[rows].astype(np.int64)
    return np.einsum("hwc,hwc->hw", diff, diff)


def remap(pixels: np.ndarray, palette: np.ndarray, nearest: np.ndarray, rule: str,
          lam: float) -> np.ndarray:  # fmt: skip
    """The rows of ``rule`` at ``lam`` (see the module doc), in raster order: row by
    row for ``up``, column by column within each row's result for ``left``."""
    base = squared_errors(pixels, palette, nearest)
    out = nearest.copy()
    pal = palette.astype(np.int64)
    if "up" in rule:
        for y in range(1, out.shape[0]):
            cand = out[y - 1]
            diff = pixels[y].astype(np.int64) - pal[cand]
            cost = np.einsum("wc,wc->w", diff, diff) - base[y]
            take = cost <= lam
            out[y] = np.where(take, cand, out[y])
    if "left" in rule:
        err = squared_errors(pixels, palette, out)
        for x in range(1, out.shape[1]):
            cand = out[:, x - 1]
            diff = pixels[:, x].astype(np.int64) - pal[cand]
            cost = np.einsum("hc,hc->h", diff, diff) - base[:, x]
            extra = err[:, x] - base[:, x]  # what the up rule spent here (0: nearest)
            take = (cost <= lam) & ((extra == 0) | (cost < extra))
            out[:, x] = np.where(take, cand, out[:, x])
            err[:, x] = np.where(take, cost + base[:, x], err[:, x])
    return out


def psnr(pixels: np.ndarray, palette: np.ndarray, rows: np.ndarray) -> float:
    mse = float(squared_errors(pixels, palette, rows).mean()) / 3.0
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def at_psnr(curve: list[tuple[float, int]], target: float) -> float | None:
    """Bytes of the plain curve ((PSNR, bytes) by k) at ``target`` PSNR, interpolated
    linearly in (PSNR, log bytes); None outside it."""
    pts = sorted(curve)
    for (p0, b0), (p1, b1) in itertools.pairwise(pts):
        if p0 <= target <= p1 and p1 > p0:
            t = (target - p0) / (p1 - p0)
            return float(np.exp(np.log(b0) + t * (np.log(b1) - np.log(b0))))
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default="photo-4mp,china,coffee,skimage-chelsea")
    ap.add_argument("--ks", default="48,64,96,128,192,256")
    ap.add_argument("--lambdas", default="4,16,48")
    ap.add_argument("--rules", default="left,up,left+up")
    args = ap.parse_args()
    import kquant

    ks = [int(k) for k in args.ks.split(",")]
    lambdas = [float(v) for v in args.lambdas.split(",")]
    rules = args.rules.split(",")
    ratios: dict[tuple[str, float], list[float]] = {}
    for name in args.images.split(","):
        src = corpus.CORPUS / f"{name}.png"
        if not src.exists():
            src = Path(__file__).resolve().parents[1] / "sample_images" / f"{name}.jpg"
        with Image.open(src) as im:
            pixels = np.asarray(im.convert("RGB"))
        plain: list[tuple[float, int]] = []
        tried = []
        for k in ks:
            q = kquant.quantize(pixels, k, space="rgb", dither="none", seed=0)
            pal, rows = q.palette[:, :3], q.indices.astype(np.intp)
            plain.append((psnr(pixels, pal, rows), png_bytes(rows, pal)))
            tried.append((k, pal, rows))
        steps = (f"k={k} {p:.2f} dB {b:,} B" for k, (p, b) in zip(ks, plain, strict=True))
        print(f"{name}: plain " + ", ".join(steps))
        for rule in rules:
            for lam in lambdas:
                for k, pal, rows in tried:
                    new = remap(pixels, pal, rows, rule, lam)
                    p, b = psnr(pixels, pal, new), png_bytes(new, pal)
                    ref = at_psnr(plain, p)
                    if ref is not None:
                        ratios.setdefault((rule, lam), []).append(b / ref)
                    vs = f", {b / ref:.3f}x plain at this PSNR" if ref else ""
                    print(f"  {rule:8} lambda {lam:4g} k={k}: {p:.2f} dB {b:,} B{vs}", flush=True)
    print("\n| rule | lambda | points | bytes vs plain at equal PSNR, median | best | worst |")
    print("|---|---|---|---|---|---|")
    for (rule, lam), r in ratios.items():
        print(f"| {rule} | {lam:g} | {len(r)} | {statistics.median(r):.3f} | {min(r):.3f} |"
              f" {max(r):.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
