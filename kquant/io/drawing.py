"""What the pictures kquant draws share: a scalable font, a checkerboard under
transparency, labels that fit.

Fonts are Pillow's built-in scalable one (``ImageFont.load_default(size=...)``, the
Aileron face Pillow ships, drawn by FreeType): no font file is needed, and a label's
size follows the picture it labels, so it stays readable when the picture is scaled
to a screen.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["checkerboard", "fit_text", "font", "on_checkerboard"]

#: The two grays of the checkerboard shown under transparent pixels.
CHECKER = (204, 255)


@functools.lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (at least 8)."""
    return ImageFont.load_default(size=max(8, int(size)))


def checkerboard(width: int, height: int, square: int) -> Image.Image:
    """An RGB checkerboard of ``square``-pixel squares in :data:`CHECKER` grays."""
    y, x = np.indices((height, width))
    light = ((y // square + x // square) % 2).astype(bool)
    gray = np.where(light, CHECKER[1], CHECKER[0]).astype(np.uint8)
    return Image.fromarray(np.dstack([gray, gray, gray]))


def on_checkerboard(array: np.ndarray, square: int | None = None) -> Image.Image:
    """(H, W, 3|4) uint8 pixels as RGB, composited over a checkerboard where they are
    (partly) transparent; squares of ``square`` pixels (default 1/48 of the width,
    at least 4)."""
    image = Image.fromarray(array)
    if image.mode != "RGBA":
        return image.convert("RGB")
    height, width = array.shape[:2]
    board = checkerboard(width, height, square or max(4, width // 48))
    board.paste(image, mask=image.getchannel("A"))
    return board


def fit_text(
    draw: ImageDraw.ImageDraw, text: str, width: int, size: int
) -> tuple[str, ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    """``text`` and a font no larger than ``size`` in which it fits ``width`` pixels;
    below 10 px the text is cut with an ellipsis instead."""
    while size > 10 and draw.textlength(text, font=font(size)) > width:
        size -= 1
    face = font(size)
    if draw.textlength(text, font=face) > width:
        while len(text) > 1 and draw.textlength(text + "…", font=face) > width:
            text = text[:-1]
        text += "…"
    return text, face
