"""The spaces colors are clustered and compared in.

k-means minimises squared distances, so the space it runs in decides what "close"
means. Two choices change it:

- ``space``: ``"rgb"`` (sRGB values, what MSE and PSNR measure), ``"lab"``
  (CIELAB, D65, through scikit-image's ``rgb2lab``/``lab2rgb``: Euclidean distance
  there is the CIE76 color difference, closer to what the eye sees) or
  ``"weighted"`` (libimagequant's space: gamma 0.55 and channel weights, see
  :data:`_WEIGHTS`).
- alpha: colors with transparency are compared **premultiplied** (each color channel
  times alpha / 255, alpha itself on the color channels' scale), so two nearly
  transparent pixels are close whatever their hidden colors, and faint edge pixels
  do not take palette slots away from the opaque ones.

Opaque RGB needs none of this and keeps kquant's exact integer path
(:func:`features` returns None for it).
"""

from __future__ import annotations

import warnings

import numpy as np

from kquant.defaults import SPACES
from kquant.settings import check_choice

__all__ = ["SPACES", "alpha_scale", "channel_levels", "check_space", "features", "from_features"]

#: The scale of a space's lightness or channel values, which alpha is put on.
_SCALE = {"rgb": 255.0, "lab": 100.0, "weighted": 255.0}
#: ``"weighted"``: libimagequant's internal color, sRGB values brought to gamma 0.55
#: (``v ** (0.5499 / 0.45455)`` on 0..1) and weighted R 0.5, G 1, B 0.45, so that
#: distances count green most and blue least, as the eye does (issue 22: with
#: Floyd-Steinberg, SSIMULACRA 2 up 4-14 points on the worst photos).
_GAMMA = 0.5499 / 0.45455
_WEIGHTS = np.array([0.5, 1.0, 0.45])


def check_space(space: str) -> None:
    """Refuse (:class:`kquant.errors.UsageError`) a space not in :data:`SPACES`."""
    check_choice("space", space, SPACES, "color space")


def alpha_scale(space: str) -> float:
    """The value an opaque pixel's alpha feature takes in ``space``."""
    return _SCALE[space]


def channel_levels(space: str) -> np.ndarray | None:
    """The points of the 8-bit values, channel by channel, for a space whose
    channels are each a function of one RGB channel (``"weighted"``), else None.

    Returns
    -------
    (256, 3) float64 ndarray or None
        Row ``v``, column ``c``: the feature of value ``v`` on channel ``c``, so that
        ``features(rgb)[i, c] == levels[rgb[i, c], c]`` (increasing in ``v``).
    """
    if space != "weighted":
        return None
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    return features(ramp, space)


def features(colors: np.ndarray, space: str) -> np.ndarray | None:
    """Colors as points of the space they are clustered in.

    Parameters
    ----------
    colors : (M, C) uint8 ndarray, C = 3 (RGB) or 4 (RGBA)
    space : {"rgb", "lab", "weighted"}

    Returns
    -------
    points : (M, C) float64 ndarray, or None for opaque RGB (C = 3, ``"rgb"``),
        which is compared as integers. RGB on 0..255 or L*a*b*; with alpha, those
        times alpha / 255, then alpha on the scale of the color values (255 for RGB,
        100 for Lab, the range of L*).
    """
    check_space(space)
    if colors.shape[1] == 3 and space == "rgb":
        return None
    rgb = colors[:, :3].astype(np.float64)
    if space == "lab":
        from skimage.color import rgb2lab

        rgb = rgb2lab(rgb / 255.0)
    elif space == "weighted":  # (rgb / 255) ** gamma * weights * 255, in place
        rgb /= 255.0
        rgb **= _GAMMA
        rgb *= _WEIGHTS
        rgb *= 255.0
    if colors.shape[1] == 3:
        return rgb
    alpha = colors[:, 3:4].astype(np.float64) / 255.0
    return np.hstack([rgb * alpha, alpha * _SCALE[space]])


def from_features(points: np.ndarray, space: str, channels: int) -> np.ndarray:
    """Inverse of :func:`features`, for fitted centers.

    Parameters
    ----------
    points : (K, channels) float ndarray
    space : {"rgb", "lab", "weighted"}
    channels : int, 3 or 4

    Returns
    -------
    colors : (K, channels) float64 ndarray on the 0..255 scale, clipped to it, not
        rounded (see :func:`kquant.core.codebook.round_palette`). Alpha is at least 1:
        a center of visible pixels stays visible.
    """
    check_space(space)
    points = np.asarray(points, dtype=np.float64)
    rgb = points[:, :3]
    if channels == 4:
        alpha = np.clip(points[:, 3:4] / _SCALE[space], 1.0 / 255.0, 1.0)
        rgb = rgb / alpha
    if space == "lab":
        from skimage.color import lab2rgb

        with warnings.catch_warnings():  # out-of-gamut centers are clipped, as intended
            warnings.simplefilter("ignore")
            rgb = lab2rgb(rgb) * 255.0
    elif space == "weighted":
        rgb = np.clip(rgb / 255.0 / _WEIGHTS, 0.0, 1.0) ** (1.0 / _GAMMA) * 255.0
    rgb = np.clip(rgb, 0.0, 255.0)
    if channels == 3:
        return rgb
    return np.hstack([rgb, alpha * 255.0])
