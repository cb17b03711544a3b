"""kquant: color quantization with k-means, as a library and a command line.

The public names are imported lazily, so ``import kquant`` (and ``kquant --help``)
does not pay for numpy, Pillow or scikit-learn until they are used.

>>> import numpy as np, kquant
>>> img = np.zeros((8, 8, 3), np.uint8); img[4:] = (250, 200, 10)
>>> q = kquant.quantize(img, k=4, seed=0)
>>> q.palette.tolist(), q.indices.shape
([[0, 0, 0], [250, 200, 10]], (8, 8))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "quantize": "kquant.quantizer",
    "Quantized": "kquant.quantizer",
    "as_pixels": "kquant.quantizer",
    "load_image": "kquant.images",
    "LoadedImage": "kquant.images",
    "save_quantized": "kquant.images",
    "compress_file": "kquant.compress",
    "Report": "kquant.compress",
    "nearest_index": "kquant.mapping",
    "Distortion": "kquant.metrics",
    "image_distortion": "kquant.metrics",
    "KquantError": "kquant.errors",
    "UsageError": "kquant.errors",
    "ImageReadError": "kquant.errors",
    "ImageTooLargeError": "kquant.errors",
    "ImageWriteError": "kquant.errors",
    "OutputExistsError": "kquant.errors",
}

__all__ = [
    "Distortion",
    "ImageReadError",
    "ImageTooLargeError",
    "ImageWriteError",
    "KquantError",
    "LoadedImage",
    "OutputExistsError",
    "Quantized",
    "Report",
    "UsageError",
    "__version__",
    "as_pixels",
    "compress_file",
    "image_distortion",
    "load_image",
    "nearest_index",
    "quantize",
    "save_quantized",
]

if TYPE_CHECKING:
    from kquant.compress import Report, compress_file
    from kquant.errors import (
        ImageReadError,
        ImageTooLargeError,
        ImageWriteError,
        KquantError,
        OutputExistsError,
        UsageError,
    )
    from kquant.images import LoadedImage, load_image, save_quantized
    from kquant.mapping import nearest_index
    from kquant.metrics import Distortion, image_distortion
    from kquant.quantizer import Quantized, as_pixels, quantize


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kquant' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
