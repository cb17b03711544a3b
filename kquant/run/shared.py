"""One palette for a set of images (sprites, icons, a site's pictures, frames saved one
by one): fitted once on the colors of all of them, then every image is mapped onto it.

The images' histograms of visible colors are summed (:func:`kquant.core.colors.merge_histograms`)
and the palette is fitted on the sum, exactly as for one image
(:func:`kquant.core.fit.fit`). How images are weighed:

- ``"pixels"`` (default): every pixel counts once, so a large image pulls the palette
  more than an icon; the palette minimises the squared error over all pixels of the
  set.
- ``"equal"``: every image weighs the same whatever its size (each image's counts
  are scaled to the mean number of pixels), so small images keep their colors.

An animation counts with all its frames. The palette holds opaque colors (partly
transparent pixels count by their color); images with transparent pixels add one
transparent entry after the shared rows, so the shared rows keep their indices in
every file, and the palette then has at most 255 rows (PNG and GIF hold 256 entries).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from kquant.core.colors import ColorHistogram
from kquant.core.fit import fit, in_order
from kquant.core.histogram import Histogram
from kquant.core.remap import match_colors
from kquant.defaults import (
    DEFAULT_COLORS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_WEIGHT,
    WEIGHTS,
)
from kquant.errors import ImageReadError, KquantError, UsageError, per_image
from kquant.settings import FitOptions, check_choice

__all__ = ["SharedPalette", "image_histogram", "shared_palette"]


@dataclass(frozen=True)
class SharedPalette:
    """A palette fitted over a set of images.

    Attributes
    ----------
    palette : (P, 3) uint8 ndarray
        Ordered by share, largest first (ties by color).
    shares : (P,) float64 ndarray
        Each row's share of the set's (weighted) visible pixels; they sum to 1.
    images : int
        Images the palette was fitted on.
    colors_in : int
        Distinct visible colors over the set.
    alpha : bool
        Some image has transparent pixels.
    skipped : list of str
        One-line errors of images that could not be read (with ``skip_errors``).
    warnings : list of str
        What Pillow said about images that could be read, one line each, starting
        with the image's path (``a.png: Corrupt EXIF data...``).
    """

    palette: np.ndarray
    shares: np.ndarray
    images: int
    colors_in: int
    alpha: bool
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def image_histogram(
    path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[ColorHistogram, bool]:
    """The histogram of an image file's visible RGB colors (all frames of an
    animation) and whether some pixel is transparent.

    Raises
    ------
    ImageReadError, ImageTooLargeError, NotEnoughMemoryError
    """
    from kquant.io.animation import count_frames, frame_pixels
    from kquant.io.images import load_image

    frames: Iterator[np.ndarray]
    if count_frames(path) > 1:
        frames = (pixels for pixels, _ in frame_pixels(path, max_pixels=max_pixels))
    else:
        frames = iter([load_image(path, max_pixels=max_pixels).pixels])
    histogram = Histogram()
    for pixels in frames:
        histogram.add_image(pixels, rgb=True)
    return histogram.total(), histogram.transparent


def shared_palette(
    images: Sequence[str | os.PathLike[str]],
    k: int = DEFAULT_COLORS,
    options: FitOptions | None = None,
    *,
    keep: np.ndarray | None = None,
    weight: str = DEFAULT_WEIGHT,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    skip_errors: bool = False,
) -> SharedPalette:
    """Fit one palette of at most ``k`` colors over several image files.

    Parameters
    ----------
    images : sequence of path-like
    k : int
        At most 255 when some image has transparent pixels.
    options : FitOptions or None
    keep : (N, 3) uint8 array or None
        Colors kept exactly (:func:`kquant.quantize`).
    weight : {"pixels", "equal"}
        See the module's docstring.
    max_pixels : int or None
    skip_errors : bool
        Leave out images that cannot be read (listed in ``skipped``) instead of
        raising; at least one must be read.

    Returns
    -------
    SharedPalette

    Raises
    ------
    UsageError
        No images, an unknown weighting.
    KquantError
        An image cannot be read (without ``skip_errors``), or none could.
    """
    check_choice("weight", weight, WEIGHTS, "weighting")
    if not images:
        raise UsageError("a shared palette needs at least one image")
    histogram = Histogram(equal=weight == "equal")
    read, skipped, said = 0, [], []
    for path in images:
        try:
            with per_image(path) as heard:
                hist, transparent = image_histogram(path, max_pixels=max_pixels)
            said += [f"{path}: {line}" for line in heard]
        except KquantError as exc:
            if not skip_errors:
                raise
            skipped.append(str(exc))
            continue
        if hist.n_colors:
            histogram.add(hist)
            read += 1
        if transparent:  # the transparent entry after the shared rows
            histogram.reserve_transparent()
    if not read:
        raise ImageReadError(f"no image of the set could be read ({len(skipped)} failed)")
    histogram.add_fixed_colors(keep)  # after reading: an unreadable image is said first
    options = options or FitOptions()
    total = histogram.total()
    palette = in_order(fit(histogram, k, options), total).rows
    labels = match_colors(total.colors, palette, options.space)
    counts = np.bincount(labels, weights=total.counts, minlength=palette.shape[0])
    return SharedPalette(
        palette=palette,
        shares=counts / counts.sum(),
        images=read,
        colors_in=total.n_colors,
        alpha=histogram.transparent,
        skipped=skipped,
        warnings=said,
    )
