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

from kquant.core.quantizer import Quantized
from kquant.defaults import DEFAULT_MAX_PIXELS, MAX_COLORS
from kquant.errors import UsageError

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
        ``max_pixels`` (:func:`kquant.io.images.load_image`).
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
        from kquant.core.colors import color_histogram
        from kquant.io.images import load_image

        pixels = load_image(path, max_pixels=max_pixels).pixels
        flat = pixels.reshape(-1, pixels.shape[2])
        if flat.shape[1] == 4:
            flat = flat[flat[:, 3] > 0]
        colors = [tuple(c) for c in color_histogram(np.ascontiguousarray(flat[:, :3])).colors]
    if not colors:
        raise UsageError(f"{path}: no colors in this palette")
    array = np.array(colors, dtype=np.uint8).reshape(-1, 3)
    _, first = np.unique(array, axis=0, return_index=True)
    if first.size > MAX_COLORS:
        kind = "palette" if suffix in PALETTE_SUFFIXES else "image used as a palette"
        raise UsageError(
            f"{path}: this {kind} has {first.size:,} distinct colors; a palette holds at "
            f"most {MAX_COLORS:,}",
            params=("palette",),
        )
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


#: Swatch geometry: the picture's width, the narrowest tile (room for "#rrggbb" in
#: the label font), the height of a row of tiles, the label font's size.
SWATCH_WIDTH, SWATCH_MIN_TILE, SWATCH_ROW, SWATCH_FONT = 800, 88, 72, 15


def swatch_tiles(
    shares: np.ndarray, width: int = SWATCH_WIDTH, min_tile: int = SWATCH_MIN_TILE
) -> list[tuple[int, int, int]]:
    """Where each color's tile goes: (row, x, tile width), in palette order.

    Tiles are as wide as the color's share of ``width`` but never narrower than
    ``min_tile`` (a wide share is cut to ``width``); they fill rows left to right
    in palette order, a tile that would overflow starting the next row.

    >>> swatch_tiles(np.array([0.5, 0.3, 0.1, 0.1]), width=400, min_tile=100)
    [(0, 0, 200), (0, 200, 120), (1, 0, 100), (1, 100, 100)]
    """
    wanted = [round(min(width, max(min_tile, float(share) * width))) for share in shares]
    tiles, row, x = [], 0, 0
    for w in wanted:
        if x and x + w > width:
            row, x = row + 1, 0
        tiles.append((row, x, w))
        x += w
    return tiles


def draw_swatch(colors: np.ndarray, shares: np.ndarray, width: int = SWATCH_WIDTH) -> Image.Image:
    """The palette as tiles, each labelled with its hex code and share, sized by share
    but never narrower than :data:`SWATCH_MIN_TILE` (:func:`swatch_tiles`), in rows of
    :data:`SWATCH_ROW` pixels. Labels are black or white, whichever reads better on
    the color.

    Returns
    -------
    PIL.Image.Image
        RGB, ``width`` wide.
    """
    from kquant.io.drawing import fit_text

    tiles = swatch_tiles(shares, width)
    n_rows = 1 + max((row for row, _, _ in tiles), default=0)
    swatch = Image.new("RGB", (width, n_rows * SWATCH_ROW), "white")
    draw = ImageDraw.Draw(swatch)
    for color, share, (row, x, w) in zip(colors, shares, tiles, strict=True):
        rgb = tuple(int(v) for v in color[:3])
        top = row * SWATCH_ROW
        draw.rectangle([x, top, x + w - 1, top + SWATCH_ROW - 1], fill=rgb)
        luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
        ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
        for line, text in enumerate((to_hex(color), f"{100 * share:.1f}%")):
            text, face = fit_text(draw, text, w - 8, SWATCH_FONT)
            draw.text((x + 5, top + SWATCH_ROW - 8 - (2 - line) * (SWATCH_FONT + 4)), text,
                      fill=ink, font=face)  # fmt: skip
    return swatch


def write_palette_files(
    colors: np.ndarray,
    shares: np.ndarray,
    *,
    export: Path | None = None,
    swatch: tuple[Path, str] | None = None,
    overwrite: bool = False,
) -> None:
    """Write a palette ((P, C) uint8 rows, (P,) shares) to ``export``
    (:func:`write_palette`'s formats) and as a picture to ``swatch`` (path and
    Pillow format; :func:`draw_swatch`), each atomically."""
    from kquant.io.images import write_atomically

    if export is not None:
        text = write_palette(export, colors, shares).encode()
        write_atomically(export, lambda fh: fh.write(text), overwrite=overwrite)
    if swatch is not None:
        picture = draw_swatch(colors, shares)
        write_atomically(swatch[0], lambda fh: picture.save(fh, format=swatch[1]),
                         overwrite=overwrite)  # fmt: skip
