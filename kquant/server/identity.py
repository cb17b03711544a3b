"""What a client and a server must share, and when a server's code is stale.

A server serves a client only if the child it forks would run exactly the code, with
exactly the settings, that the client's own interpreter would: the same kquant (its
version and folder), the same Python (executable, version, prefix, ``sys.path``,
flags, ``-W`` and ``-X`` options, file system encoding), the same mount namespace, and
the same values of the environment variables that libraries read while they are
imported (:data:`IMPORT_TIME_ENV`: ``PYTHON*``, OpenMP's and OpenBLAS's settings,
tqdm's defaults...). Everything else in the environment is read at run time, so the
child simply takes the client's.

The thread counts (:data:`THREAD_ENV`) are the exception: the server imports with
one thread and the child sets the counts the client's environment asks for
(:func:`thread_counts`), so ``OMP_NUM_THREADS=1 kquant ...`` and ``kquant ...`` share
one server.

:func:`server_key` names the server of an environment (its socket, lock and log),
so two virtual environments, or two sets of import-time variables, each get their
own. kquant's version is not part of the key: an upgrade in place finds the old
server at the same name, which sees that its code changed (:class:`CodeStamp`),
refuses and exits.
"""

from __future__ import annotations

import os
import sys

import kquant

# The ``kquant`` client imports this module on every call: only what Python has
# imported at start-up (hashlib, json and pathlib would cost it 10 ms).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "IMPORT_TIME_ENV",
    "THREAD_ENV",
    "CodeStamp",
    "environment",
    "identity",
    "server_key",
    "thread_counts",
]

#: Prefixes of environment variables read while Python starts or libraries import.
IMPORT_TIME_ENV = (
    "PYTHON", "OMP_", "GOMP_", "KMP_", "OPENBLAS_", "GOTO", "MKL_", "BLIS_", "NUMPY_",
    "NPY_", "SCIPY_", "SKLEARN_", "JOBLIB_", "LOKY_", "TQDM_", "PIL", "MPL",
)  # fmt: skip

#: Thread counts, set in each child (:func:`thread_counts`) rather than keyed.
THREAD_ENV = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS",
    "BLIS_NUM_THREADS",
)  # fmt: skip


def _namespace() -> int:
    try:
        return os.stat("/proc/self/ns/mnt").st_ino
    except OSError:
        return os.stat("/").st_ino


def environment(environ: os._Environ[str] | dict[str, str] = os.environ) -> dict[str, Any]:
    """The interpreter and import-time environment: what :func:`server_key` hashes.

    ``sys.path[0]`` (the script's folder, or the working directory under ``-m``) is
    left out: kquant's imports do not depend on it.
    """
    return {
        "uid": os.getuid(),
        "python": sys.version,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "path": sys.path[1:],
        "flags": list(sys.flags),
        "warnoptions": list(sys.warnoptions),
        "xoptions": sorted(f"{k}={v}" for k, v in sys._xoptions.items()),
        "fsencoding": [sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()],
        "namespace": _namespace(),
        "env": sorted(
            [name, value]
            for name, value in environ.items()
            if name.startswith(IMPORT_TIME_ENV) and name not in THREAD_ENV
        ),
    }


def identity(environ: os._Environ[str] | dict[str, str] = os.environ) -> dict[str, Any]:
    """:func:`environment` plus kquant's version and folder: what must be equal."""
    return {
        "kquant": kquant.__version__,
        "package": os.path.dirname(os.path.abspath(kquant.__file__)),
        **environment(environ),
    }


def server_key(env: dict[str, Any]) -> str:
    """A short name for an :func:`environment` (16 hex digits of a SHA-256 of its
    ``repr``, keys sorted: its values are str, int and lists of them)."""
    text = repr(sorted(env.items()))
    return _sha256(text.encode()).hexdigest()[:16]


def _sha256(data: bytes) -> Any:
    """SHA-256 from CPython's built-in module (hashlib imports OpenSSL: 3 ms)."""
    try:
        from _sha2 import sha256  # Python 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.10 and 3.11
        except ImportError:  # an interpreter without them
            from hashlib import sha256
    return sha256(data)


def thread_counts(environ: dict[str, str], blas_default: int | None = None) -> dict[str, int]:
    """BLAS and OpenMP thread counts a fresh process would start with in
    ``environ`` (the variables, else the CPUs this process may use), by
    threadpoolctl's ``user_api``; ``blas_default``, if given, is BLAS's count when
    no variable sets one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def first(*names: str, default: int | None = None) -> int:
        for name in names:
            try:
                value = int(environ.get(name, "").split(",")[0])
            except ValueError:
                continue
            if value > 0:
                return value
        return default or cpus or 1

    return {
        "blas": first(
            "OPENBLAS_NUM_THREADS",
            "GOTO_NUM_THREADS",
            "MKL_NUM_THREADS",
            "BLIS_NUM_THREADS",
            "OMP_NUM_THREADS",
            default=blas_default,
        ),
        "openmp": first("OMP_NUM_THREADS"),
    }


class CodeStamp:
    """The modification times of kquant's source files and of every ``sys.path``
    folder (a package installed, upgraded or removed changes its folder), taken when
    the server starts; :meth:`stale` says whether any changed since (about 0.2 ms)."""

    def __init__(self) -> None:
        self._stamp = self._take()

    @staticmethod
    def _take() -> list[tuple[str, int]]:
        from pathlib import Path

        package = Path(kquant.__file__).resolve().parent
        paths = [str(p) for p in sorted(package.rglob("*.py"))]
        paths += [p for p in sys.path[1:] if p]
        stamp = []
        for path in paths:
            try:
                stamp.append((path, os.stat(path).st_mtime_ns))
            except OSError:
                stamp.append((path, -1))
        return stamp

    def stale(self) -> bool:
        return self._take() != self._stamp
