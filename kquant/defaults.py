"""Defaults and limits shared by the library and the command line.

Kept free of heavy imports (numpy, Pillow, scikit-learn) so that the command line
can show them in ``--help`` without paying for those imports.
"""

from __future__ import annotations

#: Pixels the codebook is fitted on by default: a seeded random sample this large
#: gives a palette whose MSE is within about 1% of fitting on every pixel, at a
#: fraction of the time on large images (see docs/DESIGN.md).
DEFAULT_SAMPLE = 250_000

#: Default number of colors.
DEFAULT_COLORS = 256

#: Largest ``k`` accepted.
MAX_COLORS = 65_536

#: Palette entries an indexed PNG or GIF can hold.
INDEXED_LIMIT = 256

#: Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``); a test checks
#: they agree.
DEFAULT_MAX_PIXELS = 89_478_485

#: Codebook methods and k-means initialisations.
METHODS: tuple[str, ...] = ("kmeans", "minibatch", "random")
INITS: tuple[str, ...] = ("k-means++", "random")
