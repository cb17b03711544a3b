"""BLAS and OpenMP thread counts, through one threadpoolctl controller.

threadpoolctl finds the BLAS and OpenMP libraries a process has loaded by walking
them (about 7 ms the first time in a process, 1 ms after); :func:`controller` does it
once, after importing scikit-learn's k-means (which loads its OpenMP runtime, so
the controller sees it), and every limit after that costs about 30 us. A server
makes it before it forks, so its children start with it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["controller", "limit", "one_thread"]

_controller: Any = None


def controller() -> Any:
    """threadpoolctl's ``ThreadpoolController`` over the libraries numpy, SciPy and
    scikit-learn load (scikit-learn's k-means is imported first)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        from kquant.core.kmeans import kmeans_module

        kmeans_module()  # loads scikit-learn's OpenMP runtime
        _controller = ThreadpoolController()
    return _controller


def one_thread() -> Any:
    """A context manager: one BLAS and one OpenMP thread inside it, the previous
    counts restored after."""
    return controller().limit(limits=1)


def limit(count: int, user_api: str) -> None:
    """Set the thread count of ``user_api`` (``"blas"`` or ``"openmp"``) for the rest
    of the process."""
    controller().limit(limits=count, user_api=user_api)
