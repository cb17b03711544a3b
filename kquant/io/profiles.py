"""ICC color profiles of written files: an sRGB profile becomes PNG's sRGB chunk.

Most photos that carry a profile carry sRGB's (the common "sRGB IEC61966-2.1" is
3,144 bytes); a PNG can say the same in a 13-byte ``sRGB`` chunk, which decoders and
browsers treat as that color space (PNG specification, 11.3.3.5). pngcrush and
ImageOptim make the same swap; pngquant converts to sRGB and writes no profile. On a
0.1 MP photo quantized for 35 dB the profile was 5.4% of the file. Any other profile
(Adobe RGB, a display's, a gray one) is written as it came.

A profile counts as sRGB when it is an RGB profile that moves no color of a 17 x 17 x
17 grid by more than one level on its way to LittleCMS's own sRGB (relative
colorimetric): the variants of sRGB in the wild differ by rounding only (at most 1
level), while Adobe RGB moves colors by up to 143 levels and a laptop display's by 107.
"""

from __future__ import annotations

import functools
import io

import numpy as np

__all__ = ["srgb_intent"]

#: Largest change (levels) of a grid color for a profile to count as sRGB.
SRGB_TOLERANCE = 1
#: Grid points per channel of the check.
_GRID = 17


@functools.lru_cache(maxsize=16)
def srgb_intent(icc_profile: bytes) -> int | None:
    """The rendering intent (0-3, from the profile's header; 0 where it holds none of
    these) to write in a PNG ``sRGB`` chunk in place of ``icc_profile``, or None when
    the profile is not sRGB (or cannot be read: it is then written as it came)."""
    from PIL import Image

    try:
        from PIL import ImageCms  # Pillow built without LittleCMS: kept as it came
    except ImportError:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if source.profile.xcolor_space.strip() != "RGB":
            return None
        transform = ImageCms.buildTransform(
            source, ImageCms.createProfile("sRGB"), "RGB", "RGB",
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        )  # fmt: skip
        levels = np.linspace(0, 255, _GRID).round().astype(np.uint8)
        grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)
        grid = grid.reshape(_GRID, _GRID * _GRID, 3)
        moved = np.asarray(ImageCms.applyTransform(Image.fromarray(grid), transform))
    except (OSError, ValueError, ImageCms.PyCMSError):
        return None
    if int(np.abs(moved.astype(np.int16) - grid).max()) > SRGB_TOLERANCE:
        return None
    intent = int.from_bytes(icc_profile[64:68], "big")
    return intent if intent <= 3 else 0
