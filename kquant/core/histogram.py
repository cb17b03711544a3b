"""The colors a palette is fitted on: one :class:`Histogram` that a single image, the
frames of an animation, a set of images and kept colors all add to.

A single image is first made :class:`Prepared` (its pixels, which of them are
visible, and its :class:`~kquant.core.colors.ColorHistogram`), because mapping its pixels
needs them too; :meth:`Prepared.histogram` is then its fitting histogram, which can
also draw a seeded sample of its pixels. Frames and sets add their counts instead
(:meth:`Histogram.add`, :meth:`Histogram.add_image`).

The rules every palette obeys whatever it was fitted on live here:

- :func:`visible_limit`: with a transparent entry (or a spare one, for a GIF
  animation's unchanged pixels) the visible colors are at most 255 when ``k`` is at
  most 256, so that palette and entry stay within :data:`INDEXED_LIMIT` entries;
- :func:`spare_limit`: a GIF animation frame's own palette beside its spare entry
  has at most 255 colors, whatever ``k``;
- :func:`index_dtype`: indices are uint8 up to 256 entries, else uint16.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kquant.core.colors import ColorHistogram, color_histogram, merge_histograms
from kquant.core.memory import release_free_memory
from kquant.core.spaces import features
from kquant.defaults import INDEXED_LIMIT

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Histogram", "Prepared", "index_dtype", "prepare", "spare_limit", "visible_limit"]

#: Parts of a histogram are merged once this many are waiting (bounds their memory).
MERGE_EVERY = 16


def visible_limit(k: int, transparent: bool) -> int:
    """The most visible colors a palette of ``k`` may have: one fewer when a
    transparent (or spare) entry must fit beside them in an indexed file.

    >>> visible_limit(256, True), visible_limit(16, True), visible_limit(300, True)
    (255, 16, 300)
    >>> visible_limit(256, False)
    256
    """
    return min(k, INDEXED_LIMIT - 1) if transparent and k <= INDEXED_LIMIT else k


def spare_limit(k: int, spare: bool) -> int:
    """The most colors of a GIF animation frame's own palette (per-frame palettes):
    at most 255 beside the ``spare`` entry for unchanged pixels, whatever ``k``
    (unlike :func:`visible_limit`, a ``k`` above 256 is not kept).

    >>> spare_limit(300, True), spare_limit(256, True), spare_limit(300, False)
    (255, 255, 300)
    """
    return min(k, INDEXED_LIMIT - 1) if spare else k


def index_dtype(entries: int) -> type[np.unsignedinteger[Any]]:
    """The integer type of palette indices for ``entries`` rows (transparent
    entry included): uint8 up to :data:`INDEXED_LIMIT`, else uint16.

    >>> index_dtype(256).__name__, index_dtype(257).__name__
    ('uint8', 'uint16')
    """
    return np.uint8 if entries <= INDEXED_LIMIT else np.uint16


@dataclass
class Histogram:
    """Visible colors and their weights, gathered from whatever the palette is for.

    Attributes
    ----------
    transparent : bool
        Some pixel added was fully transparent, or an entry was reserved
        (:meth:`reserve_transparent`): the palette leaves room for it
        (:meth:`limit`).
    fixed : (N, 3) uint8 ndarray or None
        Colors the palette must hold exactly (kept colors), first.
    pixels : (V, C) uint8 ndarray or None
        The visible pixels, when the histogram is one image's
        (:meth:`Prepared.histogram`): a fit may draw a sample of them.
    equal : bool
        Every part (:meth:`add`) weighs the same, whatever its pixels: each one's
        counts are scaled to the mean part's (the images of a set weighed equally).
        Otherwise every pixel counts once.
    """

    transparent: bool = False
    fixed: np.ndarray | None = None
    pixels: np.ndarray | None = None
    equal: bool = False
    _parts: list[ColorHistogram] = field(default_factory=list)
    _merged: int = 0  # leading parts already merged into _parts[0]
    _total: ColorHistogram | None = None
    _points: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)

    def add(self, part: ColorHistogram) -> None:
        """Add the counts of a part (a frame, an image); parts are merged every
        :data:`MERGE_EVERY` so that memory stays bounded (integer counts: the sum
        does not depend on when)."""
        self._parts.append(part)
        self._total, self._points = None, {}
        if not self.equal and len(self._parts) - self._merged > MERGE_EVERY:
            self._parts = [merge_histograms(self._parts)]
            self._merged = 1

    def add_image(self, pixels: np.ndarray, *, rgb: bool = False) -> None:
        """Add an image's visible pixels ((H, W, C) uint8; alpha 0 is transparent
        and counts nowhere). ``rgb``: count them by their RGB color only."""
        flat = pixels.reshape(-1, pixels.shape[2])
        if flat.shape[1] == 4:
            visible = flat[:, 3] > 0
            self.transparent = self.transparent or not visible.all()
            flat = np.ascontiguousarray(flat[visible, :3]) if rgb else flat[visible]
        self.add(color_histogram(flat))

    def drop_alpha(self) -> None:
        """Make a histogram of opaque RGBA colors (frames decoded as RGBA) an RGB one
        (keys keep their order)."""
        total = self.total()
        keys = total.keys & np.uint32(0xFFFFFF)
        self._parts, self._merged = [], 0
        self.add(ColorHistogram(keys, total.colors[:, :3].copy(), total.counts))

    def add_fixed_colors(self, colors: Any) -> None:
        """Colors the palette must hold exactly ((N, 3) uint8, opaque); they count
        toward k."""
        self.fixed = None if colors is None or not len(colors) else np.asarray(colors, np.uint8)

    def reserve_transparent(self) -> None:
        """Leave room for a transparent entry even if no pixel is transparent (so
        images of a set share rows; a GIF animation's unchanged pixels)."""
        self.transparent = True

    def limit(self, k: int) -> int:
        """The most visible colors a palette of ``k`` fitted here may have
        (:func:`visible_limit`)."""
        return visible_limit(k, self.transparent)

    def total(self) -> ColorHistogram:
        """Every part's colors together (weighted with ``equal``), computed once."""
        if self._total is None:
            if self.equal:  # parts are never merged early: one weight each
                mean = float(np.mean([h.n_pixels for h in self._parts]))
                weights = [mean / h.n_pixels for h in self._parts]
                self._total = merge_histograms(self._parts, weights)
            elif len(self._parts) == 1 and self._merged == 0:
                self._total = self._parts[0]
            else:
                self._total = merge_histograms(self._parts)
        return self._total

    def points(self, space: str) -> np.ndarray | None:
        """The total's colors as points of ``space`` (:func:`kquant.core.spaces.features`;
        None for opaque RGB, compared as integers), computed once."""
        if space not in self._points:
            self._points[space] = features(self.total().colors, space)
        return self._points[space]


@dataclass(frozen=True)
class Prepared:
    """An image made ready to quantize at any k: quantizing it several times (a
    sweep over k, a search for a quality target) counts its colors once.

    Attributes
    ----------
    pixels : (H, W, C) uint8 ndarray
    visible : (H*W,) bool ndarray or None
        Pixels with alpha > 0; None when every pixel is visible.
    vis_colors : (N, C) uint8 ndarray
        The visible pixels' colors.
    hist : ColorHistogram
        Their histogram.
    """

    pixels: np.ndarray
    visible: np.ndarray | None
    vis_colors: np.ndarray
    hist: ColorHistogram
    _points: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False, compare=False)

    def points(self, space: str) -> np.ndarray | None:
        """The histogram's colors as points of ``space`` (see
        :meth:`Histogram.points`), computed once."""
        if space not in self._points:
            self._points[space] = features(self.hist.colors, space)
        return self._points[space]

    def forget_points(self) -> None:
        """Drop the points computed so far (and those of the histograms made from
        this image): a caller done with them frees their memory."""
        self._points.clear()

    def histogram(self, *, transparent_entry: bool = False, keep: Any = None) -> Histogram:
        """The histogram to fit this image's palette on (its visible pixels kept, to
        draw a sample from), with a transparent entry if it has transparent pixels
        or ``transparent_entry``, and the kept colors ``keep``."""
        h = Histogram(transparent=self.visible is not None or transparent_entry,
                      pixels=self.vis_colors, _parts=[self.hist], _points=self._points)  # fmt: skip
        h.add_fixed_colors(keep)
        return h


def prepare(image: np.ndarray | Image.Image) -> Prepared:
    """Count an image's visible colors once, for several :func:`kquant.quantize`
    calls."""
    from kquant.core.quantizer import as_pixels

    pixels = as_pixels(image)
    flat = pixels.reshape(-1, pixels.shape[2])
    visible = flat[:, 3] > 0 if flat.shape[1] == 4 else None
    if visible is not None and visible.all():
        visible = None
    vis_colors = flat if visible is None else flat[visible]
    hist = color_histogram(vis_colors)
    release_free_memory(flat.shape[0])  # the counting threads' temporaries
    return Prepared(pixels, visible, vis_colors, hist)
