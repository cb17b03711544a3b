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
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Place", "UnsafePlaceError", "server_dir"]

#: Linux's limit on a socket path (sun_path), less its terminating NUL.
MAX_SOCKET_PATH = 107


class UnsafePlaceError(Exception):
    """The socket directory cannot be used safely (wrong owner, open to others, a
    link, too long a path); the message names it and the problem."""


def _check(path: Path, what: str) -> None:
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UnsafePlaceError(f"{path}: cannot use it as {what}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePlaceError(f"{path}: not a directory (a link or a file), refused as {what}")
    if st.st_uid != os.getuid():
        raise UnsafePlaceError(f"{path}: owned by uid {st.st_uid}, not by you, refused as {what}")
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise UnsafePlaceError(
            f"{path}: mode {mode:04o} lets others in (0700 needed), refused as {what}"
        )


def server_dir(environ: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """The checked socket directory, created (0700) if missing.

    Raises
    ------
    UnsafePlaceError
        If it, or ``$XDG_RUNTIME_DIR`` when that is used, fails the checks.
    """
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        _check(Path(runtime), "the runtime directory ($XDG_RUNTIME_DIR)")
        path = Path(runtime) / "kquant"
    else:
        path = Path(environ.get("TMPDIR") or "/tmp") / f"kquant-{os.getuid()}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafePlaceError(
            f"{path}: cannot create the server directory: {exc.strerror}"
        ) from None
    _check(path, "the server directory")
    return path


@dataclass(frozen=True)
class Place:
    """The files of the server for ``key`` in a checked directory."""

    folder: Path
    key: str

    @classmethod
    def find(cls, key: str, environ: os._Environ[str] | dict[str, str] = os.environ) -> Place:
        place = cls(server_dir(environ), key)
        if len(os.fsencode(place.socket)) > MAX_SOCKET_PATH:
            raise UnsafePlaceError(f"{place.socket}: too long a path for a socket")
        return place

    @property
    def socket(self) -> str:
        return str(self.folder / f"{self.key}.sock")

    @property
    def lock(self) -> Path:
        return self.folder / f"{self.key}.lock"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.key}.log"
