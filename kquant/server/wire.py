"""The messages between a ``kquant`` client, the server and the server's child.

A request is one message: a 4-byte length and a JSON object, with file descriptors
attached (``socket.send_fds``: SCM_RIGHTS). ``{"op": "run", ...}`` carries the
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

import contextlib
import json
import os
import socket
import struct
from collections.abc import Sequence
from typing import Any

__all__ = ["GO", "MAX_FDS", "WireError", "read_request", "send_request"]

#: The byte that lets a started child run the command.
GO = b"\0"
#: At most this many descriptors in a request (working directory and stdio).
MAX_FDS = 4
#: At most this many bytes of request (an environment of a few hundred variables).
MAX_REQUEST = 1 << 20
_LENGTH = struct.Struct("!I")


class WireError(Exception):
    """A message that does not follow the protocol."""


def send_request(sock: socket.socket, request: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """Send ``request`` with ``fds`` attached."""
    data = json.dumps(request, separators=(",", ":")).encode()
    message = _LENGTH.pack(len(data)) + data
    sent = socket.send_fds(sock, [message], list(fds))
    if sent < len(message):
        sock.sendall(message[sent:])


def read_request(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """Read one request; return it and the descriptors that came with it (the
    caller owns them, also when this raises: they are closed then).

    Raises
    ------
    WireError
        Cut short, too long, not JSON, or with descriptors cut off.
    """
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
        request = json.loads(bytes(body[:length]))
        if not isinstance(request, dict):
            raise WireError("a request that is not an object")
        return request, fds
    except (WireError, ValueError, OSError) as exc:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise WireError(str(exc)) from None
