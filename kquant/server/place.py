"""Where a kquant server's socket lives, and the checks that make it private.

The directory is ``$XDG_RUNTIME_DIR/kquant`` when the runtime directory is the
user's own (systemd makes it 0700, cleared at logout), else ``kquant-UID`` in
``$TMPDIR`` or ``/tmp``. Either way it must be a real directory (not a symbolic
link), owned by the user, with no access for group or others: it is created so, and
checked before every use, since another user could have made it first in a shared
``/tmp``. In it, for a server key (:func:`kquant.server.identity.server_key`):
``KEY.sock`` (the socket, 0600), ``KEY.lock`` (held by the live server: one server
per key) and ``KEY.log`` (the server's own messages).
"""

from __future__ import annotations

import os

__all__ = ["Place", "UnsafePlaceError", "server_dir"]

# Only ``os``: the ``kquant`` client imports this module on every call (pathlib and
# dataclasses would cost it 10 ms of a call of about 60).

#: Linux's limit on a socket path (sun_path), less its terminating NUL.
MAX_SOCKET_PATH = 107
_S_IFMT, _S_IFDIR = 0o170000, 0o040000


class UnsafePlaceError(Exception):
    """The socket directory cannot be used safely (wrong owner, open to others, a
    link, too long a path); the message names it and the problem."""


def _check(path: str, what: str) -> None:
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UnsafePlaceError(f"{path}: cannot use it as {what}: {exc.strerror}") from None
    if st.st_mode & _S_IFMT != _S_IFDIR:
        raise UnsafePlaceError(f"{path}: not a directory (a link or a file), refused as {what}")
    if st.st_uid != os.getuid():
        raise UnsafePlaceError(f"{path}: owned by uid {st.st_uid}, not by you, refused as {what}")
    if st.st_mode & 0o077:
        mode = st.st_mode & 0o7777
        raise UnsafePlaceError(
            f"{path}: mode {mode:04o} lets others in (0700 needed), refused as {what}"
        )


def server_dir(environ: os._Environ[str] | dict[str, str] = os.environ, create: bool = True) -> str:
    """The checked socket directory, created (0700) if missing (else, without
    ``create``, :class:`UnsafePlaceError` for a missing one).

    Raises
    ------
    UnsafePlaceError
        If it, or ``$XDG_RUNTIME_DIR`` when that is used, fails the checks.
    """
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        _check(runtime, "the runtime directory ($XDG_RUNTIME_DIR)")
        path = os.path.join(runtime, "kquant")
    else:
        path = os.path.join(environ.get("TMPDIR") or "/tmp", f"kquant-{os.getuid()}")
    try:
        if create:
            os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafePlaceError(
            f"{path}: cannot create the server directory: {exc.strerror}"
        ) from None
    _check(path, "the server directory")
    return path


class Place:
    """The files of the server for ``key`` in a checked directory ``folder``:
    ``socket``, ``lock`` and ``log`` (paths, str)."""

    __slots__ = ("folder", "key")

    def __init__(self, folder: str, key: str) -> None:
        self.folder, self.key = folder, key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Place) and (self.folder, self.key) == (other.folder, other.key)

    def __hash__(self) -> int:
        return hash((self.folder, self.key))

    def __repr__(self) -> str:
        return f"Place({self.folder!r}, {self.key!r})"

    @classmethod
    def find(
        cls, key: str, environ: os._Environ[str] | dict[str, str] = os.environ, create: bool = True
    ) -> Place:
        """The place of ``key``'s server; the directory made if missing (``create``)."""
        place = cls(server_dir(environ, create), key)
        if len(os.fsencode(place.socket)) > MAX_SOCKET_PATH:
            raise UnsafePlaceError(f"{place.socket}: too long a path for a socket")
        return place

    @property
    def socket(self) -> str:
        return os.path.join(self.folder, f"{self.key}.sock")

    @property
    def lock(self) -> str:
        return os.path.join(self.folder, f"{self.key}.lock")

    @property
    def log(self) -> str:
        return os.path.join(self.folder, f"{self.key}.log")
