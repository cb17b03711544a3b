"""kquant: color quantization with k-means, as a library and a command line.

The public names are listed once, in ``kquant/__init__.pyi``, and imported lazily
(scikit-image's ``lazy_loader``), so ``import kquant`` (and ``kquant --help``) does not
pay for numpy, Pillow or scikit-learn until they are used.

>>> import numpy as np, kquant
>>> img = np.zeros((8, 8, 3), np.uint8); img[4:] = (250, 200, 10)
>>> q = kquant.quantize(img, k=4, seed=0)
>>> q.palette.tolist(), q.indices.shape
([[0, 0, 0], [250, 200, 10]], (8, 8))
"""

import lazy_loader

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
