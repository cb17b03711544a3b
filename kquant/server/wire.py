"""The messages between a ``kquant`` client, the server and the server's child.

A request is one message: a 4-byte length and a dict in :mod:`marshal`'s format
(client and server run the same Python, which the request's identity checks; a
request another Python cannot read is refused like any malformed one), with file
descriptors attached (SCM_RIGHTS, as ``socket.send_fds``). ``{"op": "run", ...}`` carries the
caller's argv, environment, umask, limits and ignored signals, with the descriptors
of its working directory and of its stdin, stdout and stderr; ``{"op": "status"}``
asks about the server.

Answers are lines of ASCII: from the server ``refused REASON`` (the client then runs
in process) or ``info JSON``; from the child ``started PID`` and, at its end,
``exit CODE``; from the server once it has reaped the child, ``status exited CODE``
or ``status signaled SIGNUM``. After ``started`` the client sends one byte, ``GO``,
and only then does the child run the command: a client that gave up waiting closes
the socket instead, and the child ends without doing anything.
"""

from __future__ import annotations

import _signal
import _socket
import marshal
import os
import struct

# The ``kquant`` client imports this module on every call: only modules that cost
# nothing to import (``socket``, ``signal``, ``json`` and ``typing`` would cost it
# about 10 ms; ``_socket`` and ``_signal`` are the C modules under the first two).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from socket import socket
    from typing import Any

__all__ = ["GO", "LIMITS", "MAX_FDS", "SKIPPED_SIGNALS", "Lines", "WireError", "peer",
           "read_request", "send_request"]  # fmt: skip

#: The byte that lets a started child run the command.
GO = b"\0"
#: At most this many descriptors in a request (working directory and stdio).
MAX_FDS = 4
#: At most this many bytes of request (an environment of a few hundred variables).
MAX_REQUEST = 1 << 20
_LENGTH = struct.Struct("!I")
#: The resource limits a child takes from its caller.
LIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
          "RLIMIT_NOFILE", "RLIMIT_NPROC")  # fmt: skip
#: Signals whose disposition is not carried over: Python sets them itself, or they
#: cannot be caught.
SKIPPED_SIGNALS = frozenset({_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGPIPE,
                             _signal.SIGXFSZ, _signal.SIGCHLD})  # fmt: skip


class WireError(Exception):
    """A message that does not follow the protocol."""


def send_request(sock: socket, request: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """Send ``request`` (str, int, float, bool, None, and lists and dicts of them)
    with ``fds`` attached; ``sock`` a ``socket.socket`` or a ``_socket.socket``."""
    data = marshal.dumps(request)
    message = _LENGTH.pack(len(data)) + data
    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
    sent = sock.sendmsg([message], rights if fds else [])
    if sent < len(message):
        sock.sendall(message[sent:])


def read_request(sock: socket) -> tuple[dict[str, Any], list[int]]:
    """Read one request; return it and the descriptors that came with it (the
    caller owns them, also when this raises: they are closed then).

    Raises
    ------
    WireError
        Cut short, too long, not a marshalled dict, or with descriptors cut off.
    """
    import contextlib  # the server's side: it has them imported
    import socket

    data, fds, flags, _ = socket.recv_fds(sock, 65536, MAX_FDS)
    try:
        if flags & socket.MSG_CTRUNC:
            raise WireError("too many file descriptors")
        if len(data) < _LENGTH.size:
            raise WireError("a request cut short")
        (length,) = _LENGTH.unpack_from(data)
        if length > MAX_REQUEST:
            raise WireError(f"a request of {length} bytes")
        body = bytearray(data[_LENGTH.size :])
        while len(body) < length:
            more = sock.recv(length - len(body))
            if not more:
                raise WireError("a request cut short")
            body += more
        request = marshal.loads(bytes(body[:length]))
        if not isinstance(request, dict):
            raise WireError("a request that is not a dict")
        return request, fds
    except (WireError, ValueError, EOFError, TypeError, OSError) as exc:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise WireError(str(exc) or type(exc).__name__) from None


_CREDENTIALS = struct.Struct("3i")


def peer(sock: socket) -> tuple[int, int]:
    """The (pid, uid) of the process at the other end of a connected Unix socket
    (SO_PEERCRED: what the kernel recorded, not what the peer says)."""
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _CREDENTIALS.size)
    pid, uid, _ = _CREDENTIALS.unpack(creds)
    return pid, uid


class Lines:
    """The answer lines read from a socket (``socket.socket`` or ``_socket.socket``:
    the client has no ``makefile``)."""

    def __init__(self, sock: Any) -> None:
        self.sock, self.buffer = sock, b""

    def next(self) -> bytes | None:
        """The next line without its newline; None at the end (or on an error)."""
        while b"\n" not in self.buffer:
            try:
                data = self.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line
