"""Palettes as files and pictures: shares, GIMP/JSON/hex export and import, swatches.

Formats, chosen by suffix:

- ``.gpl``: GIMP palette (``GIMP Palette`` header, then ``R G B<TAB>name`` lines);
- ``.json``: ``{"colors": ["#rrggbb", ...]}`` (reading also accepts a bare list, and
  objects with a ``"hex"`` key, as :func:`write_palette` writes with shares);
- ``.txt``: one ``#rrggbb`` (or ``rrggbb``) per line; blank lines and lines starting
  with ``;`` are skipped;
- any image Pillow reads (for :func:`read_palette` only): its distinct colors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from kquant.defaults import DEFAULT_MAX_PIXELS
from kquant.errors import UsageError
from kquant.quantizer import Quantized

__all__ = [
    "draw_swatch",
    "palette_shares",
    "read_colors",
    "read_palette",
    "to_hex",
    "write_palette",
]

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
PALETTE_SUFFIXES = (".gpl", ".json", ".txt")


def to_hex(color: np.ndarray) -> str:
    """``#rrggbb`` of an RGB(A) uint8 color (alpha ignored)."""
    r, g, b = (int(c) for c in color[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def palette_shares(q: Quantized) -> tuple[np.ndarray, np.ndarray]:
    """The visible palette colors ordered by share, and their shares.

    Returns
    -------
    colors : (P, C) uint8 ndarray
    shares : (P,) float64 ndarray
        Fraction of visible pixels of each color; they sum to 1.
    """
    counts = np.bincount(q.indices.ravel(), minlength=q.palette.shape[0]).astype(np.float64)
    rows = np.arange(q.palette.shape[0])
    if q.transparent_index is not None:
        rows = rows[rows != q.transparent_index]
    rows = rows[counts[rows] > 0]
    order = rows[np.argsort(-counts[rows], kind="stable")]
    total = counts[order].sum()
    return q.palette[order], counts[order] / total if total else counts[order]


def write_palette(path: Path, colors: np.ndarray, shares: np.ndarray | None = None) -> str:
    """The text of a palette file for ``path``'s suffix (the caller writes it).

    Raises
    ------
    UsageError
        For a suffix other than .gpl, .json, .txt.
    """
    suffix = path.suffix.lower()
    hexes = [to_hex(c) for c in colors]
    if suffix == ".gpl":
        lines = ["GIMP Palette", f"Name: {path.stem}", "Columns: 8", "#"]
        lines += [f"{c[0]:3d} {c[1]:3d} {c[2]:3d}\t{h}" for c, h in zip(colors, hexes, strict=True)]
        return "\n".join(lines) + "\n"
    if suffix == ".json":
        if shares is None:
            return json.dumps({"colors": hexes}, indent=1) + "\n"
        entries = [
            {"hex": h, "rgb": [int(v) for v in c[:3]], "share": round(float(s), 6)}
            for h, c, s in zip(hexes, colors, shares, strict=True)
        ]
        return json.dumps({"colors": entries}, indent=1) + "\n"
    if suffix == ".txt":
        return "\n".join(hexes) + "\n"
    raise UsageError(f"{path}: palette files end in {', '.join(PALETTE_SUFFIXES)}")


def read_colors(
    values: tuple[str, ...] | list[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Colors given as ``#rrggbb`` (or ``rrggbb``) or as palette files
    (:func:`read_palette`), in order, without repeats.

    Returns
    -------
    (N, 3) uint8 ndarray

    Raises
    ------
    UsageError
        A value that is neither a hex color nor a palette file.

    >>> read_colors(["#ff0000", "FFFFFF", "#ff0000"]).tolist()
    [[255, 0, 0], [255, 255, 255]]
    """
    rows: list[np.ndarray] = []
    for value in values:
        match = _HEX.match(value.strip())
        if match:
            rows.append(np.frombuffer(bytes.fromhex(match.group(1)), np.uint8).reshape(1, 3))
        elif Path(value).is_file():
            rows.append(read_palette(Path(value), max_pixels=max_pixels))
        else:
            raise UsageError(
                f"{value!r} is neither a color (#rrggbb) nor a palette file",
                params=("keep_colors",),
            )
    if not rows:
        return np.zeros((0, 3), np.uint8)
    array = np.vstack(rows)
    _, first = np.unique(array, axis=0, return_index=True)
    return array[np.sort(first)]


def read_palette(path: Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a palette file, or take the distinct colors of an image.

    Returns
    -------
    colors : (P, 3) uint8 ndarray, P >= 1, rows unique, in file order

    Raises
    ------
    UsageError
        A missing file, a malformed line (named with its number), JSON nested too
        deeply, or no colors.
    ImageReadError
        The file is neither a palette file nor an image, or an image above
        ``max_pixels`` (:func:`kquant.images.load_image`).
    """
    if not path.is_file():
        raise UsageError(f"{path}: no such palette file", params=("palette",))
    suffix = path.suffix.lower()
    if suffix in PALETTE_SUFFIXES:
        text = path.read_text(encoding="utf-8", errors="replace")
        if suffix == ".gpl":
            colors = _read_gpl(path, text)
        elif suffix == ".json":
            colors = _read_json(path, text)
        else:
            colors = _read_txt(path, text)
    else:
        from kquant.colors import color_histogram
        from kquant.images import load_image

        pixels = load_image(path, max_pixels=max_pixels).pixels
        flat = pixels.reshape(-1, pixels.shape[2])
        if flat.shape[1] == 4:
            flat = flat[flat[:, 3] > 0]
        colors = [tuple(c) for c in color_histogram(np.ascontiguousarray(flat[:, :3])).colors]
    if not colors:
        raise UsageError(f"{path}: no colors in this palette")
    array = np.array(colors, dtype=np.uint8).reshape(-1, 3)
    _, first = np.unique(array, axis=0, return_index=True)
    return array[np.sort(first)]


def _parse_hex(path: Path, number: int, text: str) -> tuple[int, int, int]:
    match = _HEX.match(text.strip())
    if not match:
        raise UsageError(f"{path}:{number}: not a #rrggbb color: {text.strip()!r}")
    value = int(match.group(1), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _read_txt(path: Path, text: str) -> list[tuple[int, int, int]]:
    return [
        _parse_hex(path, n, line)
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith(";")
    ]


def _read_gpl(path: Path, text: str) -> list[tuple[int, int, int]]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "GIMP Palette":
        raise UsageError(f"{path}:1: not a GIMP palette (no 'GIMP Palette' header)")
    colors = []
    for n, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ":" in stripped.split()[0]:
            continue
        parts = stripped.split()
        try:
            rgb = tuple(int(v) for v in parts[:3])
        except ValueError:
            rgb = ()
        if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise UsageError(f"{path}:{n}: expected 'R G B [name]' with 0-255 values: {line!r}")
        colors.append(rgb)
    return colors


def _read_json(path: Path, text: str) -> list[tuple[int, int, int]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply to be a palette") from None
    items = data.get("colors") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise UsageError(f'{path}:1: expected a list of colors or {{"colors": [...]}}')
    out = []
    for i, item in enumerate(items):
        value = item.get("hex") if isinstance(item, dict) else item
        if not isinstance(value, str):
            raise UsageError(f"{path}: color {i + 1}: expected a '#rrggbb' string: {item!r}")
        out.append(_parse_hex(path, i + 1, value))
    return out


def draw_swatch(colors: np.ndarray, shares: np.ndarray, size: tuple[int, int] = (600, 80)):
    """Bands of the palette colors, widths proportional to their shares.

    Returns a PIL RGB image of ``size``.
    """
    width, height = size
    swatch = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(swatch)
    edges = np.rint(np.concatenate([[0], np.cumsum(shares)]) * width).astype(int)
    for color, left, right in zip(colors, edges[:-1], edges[1:], strict=True):
        if right > left:
            draw.rectangle([left, 0, right - 1, height - 1], fill=tuple(int(v) for v in color[:3]))
    return swatch
