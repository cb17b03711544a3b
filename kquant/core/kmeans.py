"""scikit-learn's k-means module, imported without the rest of its clustering package.

``import sklearn.cluster`` runs the package's ``__init__``, which imports every
clustering estimator (spectral clustering, OPTICS, HDBSCAN, Birch, affinity
propagation, ...) and with them ``sklearn.manifold``, ``sklearn.neighbors`` and more
of SciPy: 185 modules and 11 MB of resident memory (measured with scikit-learn 1.9
on Python 3.11: 131 against 120 MB for a process that fits a ``KMeans``) that
kquant never uses, in every run. :func:`kmeans_module` imports
``sklearn.cluster._kmeans`` (``KMeans``, ``MiniBatchKMeans``: the same classes)
through a stand-in for the package that is not executed, and takes the stand-in
out again: a later ``import sklearn.cluster`` (by the caller's own code, say)
runs the real package, which finds its k-means module already loaded.

While the stand-in is in place it is marked as initializing and its import lock
is held (``importlib._bootstrap``'s module lock, as Python holds it while it runs a
module): another thread importing ``sklearn.cluster`` meanwhile waits, then finds
no module and runs the real package. Where the package is already imported, or
the stand-in or that lock cannot be had, it is the plain import.

One difference remains: the real package imported afterwards finds its k-means
submodules already loaded, and Python sets package attributes only for the modules
it loads, so ``sklearn.cluster._kmeans`` is then reached by import (``import
sklearn.cluster._kmeans as m``, ``importlib``, pickle), not as an attribute of
the package; ``sklearn.cluster.KMeans`` and every public name are there.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType

__all__ = ["KMEANS_MODULE", "kmeans_module"]

KMEANS_MODULE = "sklearn.cluster._kmeans"
_PACKAGE = "sklearn.cluster"
_lock = threading.Lock()


def kmeans_module() -> ModuleType:
    """``sklearn.cluster._kmeans``, imported once (thread-safe: the background
    import of :func:`kquant.core.codebook.start_import` and the fit may both ask)."""
    with _lock:
        loaded = sys.modules.get(KMEANS_MODULE)
        if loaded is not None:
            return loaded
        spec = None if _PACKAGE in sys.modules else importlib.util.find_spec(_PACKAGE)
        module_lock = getattr(importlib._bootstrap, "_ModuleLockManager", None)  # type: ignore[attr-defined]
        if spec is None or spec.submodule_search_locations is None or module_lock is None:
            return importlib.import_module(KMEANS_MODULE)
        with module_lock(_PACKAGE):  # other threads' imports of the package wait
            if _PACKAGE in sys.modules:  # imported meanwhile by another thread
                return importlib.import_module(KMEANS_MODULE)
            stand_in = importlib.util.module_from_spec(spec)  # its __path__, not its code
            stand_in.__spec__._initializing = True  # type: ignore[union-attr]
            sys.modules[_PACKAGE] = stand_in
            try:
                return importlib.import_module(KMEANS_MODULE)
            finally:
                if sys.modules.get(_PACKAGE) is stand_in:
                    del sys.modules[_PACKAGE]
                parent = vars(sys.modules["sklearn"])  # not getattr: sklearn's would import
                if parent.get("cluster") is stand_in:
                    del parent["cluster"]
