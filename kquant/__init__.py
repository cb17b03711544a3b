"""kquant: color quantization with k-means, as a library and a command line.

The public names are listed once, in ``kquant/__init__.pyi``, and imported lazily: the
stub is read on the first name asked for, and each name's module imported then, so
``import kquant`` (and ``kquant --help``, and the ``kquant`` client of a server) does
not pay for numpy, Pillow or scikit-learn, nor for reading the stub, until they are
used.

>>> import numpy as np, kquant
>>> img = np.zeros((8, 8, 3), np.uint8); img[4:] = (250, 200, 10)
>>> q = kquant.quantize(img, k=4, seed=0)
>>> q.palette.tolist(), q.indices.shape
([[0, 0, 0], [250, 200, 10]], (8, 8))
"""

from __future__ import annotations

__version__ = "0.1.0"

_public: dict[str, str] = {}


def _names() -> dict[str, str]:
    """Public name -> its module (relative to the package), from the stub's
    ``from .module import name as name`` lines; read once."""
    if not _public:
        import ast
        import os

        with open(os.path.join(os.path.dirname(__file__), "__init__.pyi"), encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                _public.update({alias.asname or alias.name: node.module for alias in node.names})
    return _public


def __getattr__(name: str) -> object:
    if name == "__all__":
        return sorted(_names())
    module = _names().get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_names()})
