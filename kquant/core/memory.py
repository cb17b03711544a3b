"""Memory: what an image costs, what the machine has left, how many workers fit.

The figures are measured (``docs/BENCHMARKS.md``, "Memory per image"), and are the
one place the loader's refusal (:func:`check_memory`) and the default number of
workers (:func:`workers_for`) take them from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kquant.errors import NotEnoughMemoryError

if TYPE_CHECKING:
    from kquant.settings import CompressSettings

__all__ = [
    "BYTES_PER_PIXEL",
    "BYTES_PER_PIXEL_ADAPTIVE",
    "BYTES_PER_PIXEL_DITHERED",
    "BYTES_PER_PIXEL_HEAVY",
    "TRIM_MIN_PIXELS",
    "WORKER_BASE_BYTES",
    "available_memory",
    "check_memory",
    "release_free_memory",
    "workers_for",
]

#: Memory a worker process takes before any image (interpreter, numpy, Pillow,
#: scikit-learn: about 130 MB measured), with a margin.
WORKER_BASE_BYTES = 200 * 2**20
#: Peak bytes per pixel of a job beyond the process's base, with a margin: plain
#: (each further megapixel measured at 3.4-6.5 MB from 4 to 100 MP: the decoder's
#: buffer and the pixel array, or the pixels, the indices and the fit); dithered on
#: the exact table path (RGB and weighted opaque images, the default: 8.0-8.5 MB
#: measured at 16 and 20 MP); and with perceptual measures or Lab, whose dithering
#: takes a float copy of the image (48-58 measured; RGBA images dithered in any
#: space take that path too, which this estimate, made before decoding, cannot see).
BYTES_PER_PIXEL = 8
BYTES_PER_PIXEL_DITHERED = 16
BYTES_PER_PIXEL_HEAVY = 64
#: ``--dither adaptive``: the dither map's float planes (109 measured on 6 MP).
BYTES_PER_PIXEL_ADAPTIVE = 128
#: ``--metrics ssimulacra2`` on top: the package takes about 550 bytes a pixel, on at
#: most a megapixel at a time (:data:`kquant.core.metrics.SSIMULACRA2_WHOLE_PIXELS`).
SSIMULACRA2_BYTES = 600 * 2**20


def available_memory() -> int | None:
    """Bytes this process can still allocate, as far as Linux tells: ``MemAvailable``
    and the cgroup's limit (v2 or v1) less its usage, whichever is lower; None if
    neither can be read."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit != "max":
                limits.append(int(limit) - int(Path(usage_file).read_text()))
        except (OSError, ValueError):
            continue
    return min(limits) if limits else None


def check_memory(path: Path, width: int, height: int) -> None:
    """Refuse, before decoding, an image that cannot fit in the memory left.

    Raises
    ------
    NotEnoughMemoryError
        ``width x height x`` :data:`BYTES_PER_PIXEL` is more than
        :func:`available_memory`.
    """
    need = width * height * BYTES_PER_PIXEL
    free = available_memory()
    if free is not None and need > free:
        raise NotEnoughMemoryError(
            f"{path}: not enough memory: {width}x{height} needs at least "
            f"{need / 2**30:.1f} GiB, {max(free, 0) / 2**30:.1f} GiB available"
        )


def workers_for(
    pixels: list[int], settings: CompressSettings, cores: int, available: int | None
) -> int:
    """How many worker processes fit: one per core, fewer when the largest image's
    estimated peak (:data:`BYTES_PER_PIXEL` per pixel, :data:`BYTES_PER_PIXEL_DITHERED`
    dithered, :data:`BYTES_PER_PIXEL_HEAVY` with Lab or measures, plus
    :data:`WORKER_BASE_BYTES`) times that many exceeds the memory ``available``; at
    least one, at most one per image.

    >>> from kquant.settings import CompressSettings
    >>> workers_for([20_000_000] * 8, CompressSettings(), cores=8, available=2 * 2**30)
    4
    """
    dithered = settings.strength > 0
    if dithered and settings.dither == "adaptive":
        per_pixel = BYTES_PER_PIXEL_ADAPTIVE
    elif settings.fit.space == "lab" or settings.metrics:
        per_pixel = BYTES_PER_PIXEL_HEAVY
    else:
        per_pixel = BYTES_PER_PIXEL_DITHERED if dithered else BYTES_PER_PIXEL
    need = WORKER_BASE_BYTES + max(pixels, default=0) * per_pixel
    if "ssimulacra2" in settings.metrics:
        need += SSIMULACRA2_BYTES
    fit = cores if available is None else available // need
    return max(1, min(cores, fit, len(pixels) or 1))


#: Images from this many pixels on hand freed memory back (:func:`release_free_memory`).
TRIM_MIN_PIXELS = 4_000_000


def release_free_memory(pixels: int) -> None:
    """Hand memory freed by the C allocator back to the system (glibc's
    ``malloc_trim``; nothing elsewhere), when working on an image of ``pixels``
    pixels, at least :data:`TRIM_MIN_PIXELS`. Large temporaries freed by numpy stay
    in the allocator's heaps and arenas otherwise (glibc raises its mmap threshold
    after the first large free, and threads get arenas of their own): 20-50 MB of
    resident memory on a 16 MP photo between counting and mapping. On small images
    there is little to gain and the pages faulted in again cost time (8 ms of
    180 ms on a 0.3 MP image)."""
    if pixels < TRIM_MIN_PIXELS:
        return
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None  # libc's malloc_trim, False where there is none
