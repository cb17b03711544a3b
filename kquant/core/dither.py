"""Floyd-Steinberg error diffusion onto a fixed palette, exact and with a strength.

Why not Pillow's (``Image.quantize(palette=..., dither=FLOYDSTEINBERG)``, in C)? It
finds colors through a cache of 6 bits per channel, so it is not always the nearest
palette color (measured: with entries (100,100,100) and (102,102,102) it maps
(103,103,103) to the first), it has no strength, and no alpha. This module does the
classic diffusion (7/16 right; 3/16, 5/16, 1/16 below-left, below, below-right; raster
order) in numpy, with libimagequant's damping of large errors (``max_error``) and its
dead zone: an error too small to see is not passed on (``dead_zone``).

Pixel (y, x) needs the error of (y, x-1) and of (y-1, x-1 .. x+1), so every pixel of
the anti-diagonal ``t = x + 2y`` can be handled at once once diagonals ``t-3 .. t-1``
are done: ``W + 2H`` vectorised steps instead of ``W x H`` scalar ones, with the
same result as the scalar loop. The error still to be added to each diagonal lives in
four rolling (H + 1, D) buffers, so the extra memory is O(H), not O(H x W).

Each step maps the pixels (their color plus diffused error, clipped to the color
range) to the nearest palette entry. For RGB the value is rounded to integers and the
nearest entry comes from :class:`kquant.core.mapping.NearestPalette`, exact and with its
tie rule, through a lazily filled table of the colors met so far. A space whose
channels are each a function of one RGB channel (the weighted space: ``levels``)
takes the same table: each value is matched through the 8-bit color whose levels
are nearest channel by channel, and the error passed on is the exact float one.
Other spaces (premultiplied RGBA, Lab) use float64 distances.
"""

from __future__ import annotations

import numpy as np

from kquant.core.mapping import NearestPalette
from kquant.defaults import DEFAULT_DITHER_STRENGTH

__all__ = ["floyd_steinberg"]

#: Weights of the error passed to (dy, dx) = (0, +1), (1, -1), (1, 0), (1, +1).
_RIGHT, _DOWN_LEFT, _DOWN, _DOWN_RIGHT = 7 / 16, 3 / 16, 5 / 16, 1 / 16


def floyd_steinberg(
    values: np.ndarray,
    palette: np.ndarray,
    *,
    strength: float | np.ndarray = DEFAULT_DITHER_STRENGTH,
    skip: np.ndarray | None = None,
    low: np.ndarray | float = 0.0,
    high: np.ndarray | float = 255.0,
    max_error: float | None = None,
    restrict: tuple[np.ndarray, np.ndarray] | None = None,
    dead_zone: float = 0.0,
    levels: np.ndarray | None = None,
    tiles: tuple[int, int] | None = None,
    fill: int = -1,
) -> np.ndarray:
    """Dither an image onto a palette by Floyd-Steinberg error diffusion.

    Parameters
    ----------
    values : (H, W, D) uint8 or float ndarray
        The image, in the space distances are measured in: uint8 RGB, or float
        points of another space (:func:`kquant.core.spaces.features`).
    palette : (P, D) ndarray, same space as ``values``
        uint8 when ``values`` is uint8.
    strength : float in [0, 1], or (H, W) float ndarray of them
        Fraction of each pixel's error passed on; 0 gives the plain nearest-color
        mapping, 1 classic Floyd-Steinberg; a map gives each pixel its own
        (:func:`kquant.core.dithermap.dither_map`).
    skip : (H, W) bool ndarray or None
        Pixels left out (kquant's fully transparent ones): they take index -1 and
        pass no error on.
    low, high : float or (D,) ndarray
        Values plus diffused error are clipped to ``[low, high]`` (kquant passes
        the range of the image's own colors, so error cannot pile up beyond it).
    max_error : float or None
        A pixel whose squared error (summed over channels) exceeds this passes on
        only 3/4 of it (libimagequant's rule against bright specks where the palette
        has no near color; kquant passes 2.4 times the mean squared error of the
        undithered mapping, as libimagequant does).
    restrict : ((H, W) bool ndarray, (P,) bool ndarray) or None
        Pixels that may only take some palette rows: kquant's fully opaque pixels,
        which must stay opaque, and the opaque rows. Ignored if no row is allowed.
    dead_zone : float
        A pixel whose diffused error (squared, summed over channels) is below this
        takes none of it (libimagequant's rule: an error too small to see is not
        worth the noise and the bytes). 0 passes every error on.
    levels : (256, 3) float64 ndarray or None
        With uint8 RGB ``values`` and a float ``palette``: the space's value of each
        8-bit level, by channel (:func:`kquant.core.spaces.channel_levels`), increasing.
        Diffusion happens in that space; each value is matched through the nearest
        level of each channel.
    tiles : (h, w) or None
        The image is a grid of h x w tiles one skipped row and column apart (frames
        of an animation laid out side by side): no error crosses the skipped pixels,
        so the tiles are diffused together, each as an image of its own, in w + 2h
        steps instead of W + 2H (the result is the same). The separating rows and
        columns must be in ``skip``.

    fill : int
        The index of skipped pixels: -1, or 0 for a caller that drops them (which
        lets up to 256 palette rows take one byte a pixel).

    Returns
    -------
    index : (H, W) ndarray
        Palette row of each pixel; ``fill`` where ``skip``. uint8 when ``fill`` is
        0 and there are at most 256 rows, else int16 (int32 from 32,767 rows).
    """
    exact = _checked(values, palette, strength, levels, fill)
    if values.shape[1] == 1:  # a skipped second column changes nothing, makes the sweep work
        values, strength, skip, restrict = _two_columns(values, strength, skip, restrict)
        index = floyd_steinberg(values, palette, strength=strength, skip=skip, low=low,
                                high=high, max_error=max_error, restrict=restrict,
                                dead_zone=dead_zone, levels=levels, fill=fill)  # fmt: skip
        return np.ascontiguousarray(index[:, :1])
    match = _Matcher(palette, exact=exact, levels=levels)
    grid = _Grid.of(values.shape[:2], tiles, skip)
    return _diffuse(values, palette, match, strength, skip, (low, high), max_error,
                    restrict, dead_zone, grid, fill)  # fmt: skip


def _checked(
    values: np.ndarray,
    palette: np.ndarray,
    strength: float | np.ndarray,
    levels: np.ndarray | None,
    fill: int,
) -> bool:
    """Check :func:`floyd_steinberg`'s arguments; return whether the values are
    matched as exact integer RGB."""
    low_s, high_s = float(np.min(strength)), float(np.max(strength))
    if low_s < 0.0 or high_s > 1.0:
        raise ValueError(f"strength must be between 0 and 1, got {low_s:g} to {high_s:g}")
    if fill not in (-1, 0):
        raise ValueError(f"fill must be -1 or 0, got {fill}")
    depth = values.shape[2]
    exact = values.dtype == np.uint8 and levels is None
    if exact and (palette.dtype != np.uint8 or depth != 3):
        raise ValueError("uint8 values must be RGB with a uint8 palette")
    if levels is not None and (values.dtype != np.uint8 or depth != 3 or levels.shape != (256, 3)):
        raise ValueError("levels must be (256, 3) and go with uint8 RGB values")
    return exact


def _diffuse(
    values: np.ndarray,
    palette: np.ndarray,
    match: _Matcher,
    strength: float | np.ndarray,
    skip: np.ndarray | None,
    bounds: tuple[np.ndarray | float, np.ndarray | float],
    max_error: float | None,
    restrict: tuple[np.ndarray, np.ndarray] | None,
    dead_zone: float,
    grid: _Grid | None = None,
    fill: int = -1,
) -> np.ndarray:
    """The diffusion of :func:`floyd_steinberg` (checked arguments, at least two
    columns), one anti-diagonal ``t = x + 2y`` at a time, of every tile of ``grid``
    at once (the image is one tile without a grid)."""
    stack = _Grid.whole if grid is None else grid.stack
    low, high = bounds
    per_pixel = np.ndim(strength) == 2
    pal = palette.astype(np.float64)
    diag_restrict = None
    if restrict is not None and restrict[1].any() and not restrict[1].all():
        allowed = np.flatnonzero(restrict[1]).astype(np.int32)
        nearest_allowed = NearestPalette(palette[allowed])
        diag_restrict = _diagonals(stack(np.asarray(restrict[0], dtype=bool)))
    dtype = _index_dtype(palette.shape[0], fill)
    tiles = stack(values)
    count, height, width, depth = tiles.shape
    index = np.empty((count, height, width), dtype=dtype)
    # Views indexed [n, t, y] -> pixel (y, t - 2y) of tile n: a diagonal is a strided slice
    diag_values = _diagonals(tiles)
    diag_index = _diagonals(index)
    diag_skip = None if skip is None else _diagonals(stack(np.asarray(skip, dtype=bool)))
    diag_strength = _diagonals(stack(np.asarray(strength, np.float64))) if per_pixel else None
    error = np.zeros((4, count, height + 1, depth), dtype=np.float64)
    for t in range(width + 2 * height - 2):
        y0 = max(0, (t - width + 2) // 2)  # rows whose x = t - 2y lies in [0, width)
        y1 = min(height - 1, t // 2) + 1
        slot = error[t % 4]
        cur = match.points(diag_values[:, t, y0:y1])
        acc = slot[:, y0:y1]
        if dead_zone > 0.0:  # only errors big enough to see are added
            acc *= (np.einsum("...j,...j->...", acc, acc) >= dead_zone)[..., None]
        cur += acc
        slot[:] = 0.0
        np.maximum(cur, low, out=cur)  # np.clip costs 3x more on a few thousand rows
        np.minimum(cur, high, out=cur)
        idx = match(cur.reshape(-1, depth)).reshape(cur.shape[:2])
        if diag_restrict is not None:
            only = diag_restrict[:, t, y0:y1]
            if only.any():
                idx[only] = allowed[nearest_allowed(cur[only])]
        err = cur - pal[idx]
        if diag_skip is not None:
            skipped = diag_skip[:, t, y0:y1]
            if skipped.any():
                idx = np.where(skipped, fill, idx)
                err[skipped] = 0.0
        diag_index[:, t, y0:y1] = idx
        if max_error is not None:
            sq = np.einsum("...j,...j->...", err, err)
            err *= np.where(sq > max_error, 0.75, 1.0)[..., None]
        if diag_strength is not None:
            err *= diag_strength[:, t, y0:y1, None]
        elif strength != 1.0:
            err *= strength
        error[(t + 1) % 4, :, y0:y1] += _RIGHT * err
        error[(t + 1) % 4, :, y0 + 1 : y1 + 1] += _DOWN_LEFT * err
        error[(t + 2) % 4, :, y0 + 1 : y1 + 1] += _DOWN * err
        error[(t + 3) % 4, :, y0 + 1 : y1 + 1] += _DOWN_RIGHT * err
    return index[0] if grid is None else grid.unstack(index, fill=fill)


def _index_dtype(rows: int, fill: int) -> type[np.integer]:
    """The smallest integer type for indices of ``rows`` palette rows and ``fill``."""
    if fill >= 0 and rows <= 256:
        return np.uint8
    return np.int16 if rows < np.iinfo(np.int16).max else np.int32


class _Grid:
    """A (H, W) image that is a grid of (h, w) tiles with one row and one column
    between them (``H = R (h + 1) - 1``, ``W = C (w + 1) - 1``), as a stack of tiles."""

    def __init__(self, shape: tuple[int, int], tile: tuple[int, int]) -> None:
        (self.height, self.width), (self.h, self.w) = shape, tile
        self.rows, self.cols = (self.height + 1) // (self.h + 1), (self.width + 1) // (self.w + 1)
        if (self.rows * (self.h + 1) - 1, self.cols * (self.w + 1) - 1) != shape:
            raise ValueError(f"a {shape} image is not a grid of {tile} tiles one pixel apart")

    @classmethod
    def of(
        cls, shape: tuple[int, int], tiles: tuple[int, int] | None, skip: np.ndarray | None
    ) -> _Grid | None:
        """The grid of ``floyd_steinberg``'s ``tiles``, checked (None: no tiles, or
        tiles of one column, which take the whole sweep)."""
        if tiles is None or tiles[1] < 2:
            return None
        grid = cls(shape, tiles)
        if skip is None or not grid.gaps_in(skip):
            raise ValueError("the rows and columns between tiles must be skipped")
        return grid

    @staticmethod
    def whole(image: np.ndarray) -> np.ndarray:
        """(1, H, W, ...): the image as a stack of one tile."""
        return np.ascontiguousarray(image)[None]

    def _blocks(self, padded: np.ndarray) -> np.ndarray:
        """(R, h + 1, C, w + 1, ...) view of a padded (R (h + 1), C (w + 1), ...) array."""
        rest = padded.shape[2:]
        return padded.reshape(self.rows, self.h + 1, self.cols, self.w + 1, *rest)

    def stack(self, image: np.ndarray) -> np.ndarray:
        """(R C, h, w, ...) C-contiguous copy of the tiles of an (H, W, ...) array."""
        padded = np.zeros((self.height + 1, self.width + 1, *image.shape[2:]), image.dtype)
        padded[: self.height, : self.width] = image
        tiles = self._blocks(padded)[:, : self.h, :, : self.w]
        order = (0, 2, 1, 3, *range(4, tiles.ndim))
        return np.ascontiguousarray(tiles.transpose(order)).reshape(-1, self.h, self.w,
                                                                     *image.shape[2:])  # fmt: skip

    def unstack(self, tiles: np.ndarray, fill: int) -> np.ndarray:
        """(H, W, ...) image of (R C, h, w, ...) tiles, ``fill`` between them."""
        rest = tiles.shape[3:]
        padded = np.full((self.height + 1, self.width + 1, *rest), fill, tiles.dtype)
        blocks = self._blocks(padded)
        order = (0, 2, 1, 3, *range(4, blocks.ndim))
        view = blocks.transpose(order)[:, :, : self.h, : self.w]  # (R, C, h, w, ...)
        view[...] = tiles.reshape(self.rows, self.cols, self.h, self.w, *rest)
        return padded[: self.height, : self.width]

    def gaps_in(self, mask: np.ndarray) -> bool:
        """Whether every pixel between the tiles is set in the (H, W) ``mask``."""
        blocks = self._blocks(np.pad(mask, ((0, 1), (0, 1)), constant_values=True))
        return bool(blocks[:, self.h].all() and blocks[:, :, :, self.w].all())


def _two_columns(values, strength, skip, restrict):
    """A one-column image's arguments with a second column that is skipped."""
    height = values.shape[0]
    values = np.concatenate([values, np.zeros_like(values)], axis=1)
    if np.ndim(strength) == 2:
        strength = np.concatenate([np.reshape(strength, (height, 1))] * 2, axis=1)
    skip = np.zeros((height, 1), bool) if skip is None else skip.reshape(height, 1)
    skip = np.concatenate([skip, np.ones((height, 1), bool)], axis=1)
    if restrict is not None:
        mask = restrict[0].reshape(height, 1)
        restrict = (np.concatenate([mask, np.zeros_like(mask)], axis=1), restrict[1])
    return values, strength, skip, restrict


def _cube_keys() -> np.ndarray:
    """(768,) intp: the part of an 8-bit RGB color's key into the table of nearest
    entries that channel ``c`` at value ``v`` gives, at ``256 c + v``.

    Keys go cube by cube: the top 4 bits of each channel pick one of 4096 cubes of
    16**3 colors, the low 4 bits a color in it, so that a cube is one 4 KB page of
    a byte table. A photo's dithered colors meet a fraction of the cubes, and only
    the pages written take memory: 5-7 MB where keys ``r << 16 | g << 8 | b`` (a page
    a run of 4096 blues) touched nearly all 16 MB.
    """
    v = np.arange(256, dtype=np.intp)
    return np.concatenate([((v >> 4) << (20 - 4 * c)) | ((v & 15) << (8 - 4 * c))
                           for c in range(3)])  # fmt: skip


_CUBE_KEYS = _cube_keys()


def _cube_keys_of(grid: np.ndarray) -> np.ndarray:
    """(N,) intp keys of (N, 3) intp 8-bit colors (three gathers: 6x faster than
    summing a gathered (N, 3) array along its rows, within 25% of ``r << 16 | ...``
    as a matrix product)."""
    return _CUBE_KEYS[grid[:, 0]] + _CUBE_KEYS[grid[:, 1] + 256] + _CUBE_KEYS[grid[:, 2] + 512]


#: A step's values are searched directly when there are at most this many
#: (value, palette row) pairs, else through a table of the colors met so far: most
#: of a step's values are new colors (55% on a 640x480 photo at k = 64), so the
#: table pays only when searching is dear. Measured (640x480 and 4 MP photos, k = 64
#: and 256): direct throughout, 4 MP at k = 256 took 2.4 s against 1.3 s; through
#: the table throughout, 640x480 at k = 64 took 0.20 s against 0.165 s.
DIRECT_PAIRS = 65_536


class _Matcher:
    """The nearest palette row of a diagonal's values: exact uint8 RGB (rounded) or
    the weighted space's 8-bit levels (each value through its nearest level by
    channel), searched directly (:data:`DIRECT_PAIRS`) or through a lazily filled
    2**24 table of the colors met (:meth:`_new_table`); else float64 distances."""

    def __init__(self, palette: np.ndarray, *, exact: bool, levels: np.ndarray | None) -> None:
        self.nearest = NearestPalette(palette)
        self.exact, self.levels = exact, levels
        self.rows_in_palette = palette.shape[0]
        self.table: np.ndarray | None = None
        self.known: np.ndarray | None = None  # a bit a color, with a table of bytes
        if levels is not None:
            self.to_grid = _LevelGrid(levels)
            self.flat = np.ascontiguousarray(levels.T).reshape(-1)  # channel c at 256 c + v
            self.rows = np.arange(3) * 256

    def points(self, values: np.ndarray) -> np.ndarray:
        """(..., D) float64 points of a diagonal's values (uint8 through the levels)."""
        if self.levels is None:
            return values.astype(np.float64)
        return self.flat[values + self.rows]

    def __call__(self, cur: np.ndarray) -> np.ndarray:
        """(N,) intp nearest rows of the points ``cur`` (N, D)."""
        if not self.exact and self.levels is None:
            return self.nearest(cur)
        if cur.shape[0] * self.rows_in_palette <= DIRECT_PAIRS:
            if self.exact:  # the rounded values, exact in float32
                return self.nearest.of_points(np.rint(cur).astype(np.float32))
            return self.nearest.of_points(self.flat[self.to_grid.level_rows(cur)])
        if self.table is None:
            self._new_table()
        assert self.table is not None
        grid = np.rint(cur).astype(np.intp) if self.exact else self.to_grid(cur)
        keys = _cube_keys_of(grid)
        idx = self.table[keys].astype(np.intp)
        # with a table of rows + 1, 0 is "not yet known"; else a bitmap says
        missing = idx == 0 if self.known is None else self._unknown(keys)
        if missing.any():
            new_keys, colors = keys[missing], grid[missing]
            colors = colors.astype(np.uint8) if self.exact else self.flat[colors + self.rows]
            found = self.nearest(colors) + (self.known is None)
            idx[missing] = self.table[new_keys] = found
            if self.known is not None:
                bits = np.left_shift(1, new_keys & 7).astype(np.uint8)
                np.bitwise_or.at(self.known, new_keys >> 3, bits)
        if self.known is None:
            idx -= 1
        return idx

    def _unknown(self, keys: np.ndarray) -> np.ndarray:
        """(N,) bool: the colors of ``keys`` (N,) not yet in the table."""
        assert self.known is not None
        return ((self.known[keys >> 3] >> (keys & 7)) & 1) == 0

    def _new_table(self) -> None:
        """The table of the colors met, its pages taken as they are written: up to
        256 rows, one byte a color and a bit saying it is known (18 MB at most);
        else the row + 1 (0: not yet known) in two or four bytes."""
        if self.rows_in_palette <= 256:
            self.table = np.zeros(1 << 24, dtype=np.uint8)
            self.known = np.zeros(1 << 21, dtype=np.uint8)
        else:
            small = self.rows_in_palette < np.iinfo(np.int16).max
            self.table = np.zeros(1 << 24, dtype=np.uint16 if small else np.int32)


class _LevelGrid:
    """The nearest level of each value, channel by channel, for (256, 3) increasing
    ``levels``: a table over bins narrower than half the smallest step between
    levels, so that a bin holds at most one midpoint, then one comparison with it
    (4x faster than ``np.searchsorted``; the same answers)."""

    def __init__(self, levels: np.ndarray) -> None:
        mids = (levels[1:] + levels[:-1]) / 2.0  # (255, 3)
        self.scale = 2.0 / float(np.diff(levels, axis=0).min())
        sizes = [int(levels[-1, c] * self.scale) + 2 for c in range(3)]
        self.offsets = np.cumsum([0, *sizes[:2]]).astype(np.intp)  # tables end to end
        self.tables = np.concatenate([
            np.searchsorted(mids[:, c], np.arange(sizes[c]) / self.scale) + 256 * c
            for c in range(3)
        ]).astype(np.intp)  # fmt: skip
        # the midpoint above each level, channel c at 256 c + v (inf above 255)
        self.after = np.concatenate([np.append(mids[:, c], np.inf) for c in range(3)])
        self.rows = np.arange(3, dtype=np.intp) * 256

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(N, 3) intp: the level row nearest each of ``values`` (N, 3), which lie
        within ``[levels[0], levels[255]]``."""
        level = self.level_rows(values)
        level -= self.rows
        return level

    def level_rows(self, values: np.ndarray) -> np.ndarray:
        """(N, 3) intp: ``256 c + v`` for the level ``v`` of channel ``c`` nearest each
        of ``values`` (N, 3) (rows of the levels laid out channel after channel)."""
        bins = (values * self.scale).astype(np.intp)
        bins += self.offsets
        level = self.tables[bins]
        level += values >= self.after[level]
        return level


def _diagonals(stack: np.ndarray) -> np.ndarray:
    """A view ``v`` of a C-contiguous (N, H, W[, D]) stack of images, W >= 2, with
    ``v[n, t, y]`` the pixel (y, t - 2y) of image n, for t in [0, W + 2H - 2) and y in
    [0, H).

    Pixel (y, t - 2y) is flat pixel ``t + y (W - 2)`` of its image, so a diagonal is
    a strided slice. Every (t, y) of the view lies inside the image (the flat index
    runs from 0 to H W - 1), though only those with 0 <= t - 2y < W are pixels of
    diagonal t.
    """
    height, width = stack.shape[1:3]
    pixel = stack.strides[2]
    shape = (stack.shape[0], width + 2 * height - 2, height, *stack.shape[3:])
    strides = (stack.strides[0], pixel, (width - 2) * pixel, *stack.strides[3:])
    return np.lib.stride_tricks.as_strided(stack, shape, strides, writeable=stack.flags.writeable)
