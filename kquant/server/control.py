"""Starting, stopping and asking about the server of this environment: the library
under ``kquant server start|stop|status`` and ``KQUANT_SERVER=auto``."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from kquant.server.identity import environment, server_key
from kquant.server.place import Place
from kquant.server.wire import Lines, peer, send_request

__all__ = ["AUTO_IDLE", "ServerError", "place", "spawn", "start", "status", "stop"]

#: Seconds an automatically started server (``KQUANT_SERVER=auto``) waits idle
#: before it exits.
AUTO_IDLE = 15 * 60
#: A server's log is started afresh when it has grown past this size.
LOG_LIMIT = 1 << 20


class ServerError(Exception):
    """The server could not be started or stopped; the message says why."""


def place() -> Place:
    """The files of this environment's server (the directory checked: raises
    :class:`~kquant.server.place.UnsafePlaceError`)."""
    return Place.find(server_key(environment()))


def spawn(where: Place, idle: float | None) -> subprocess.Popen[bytes]:
    """Start a server for ``where`` in the background, detached from this process's
    session and terminal, its messages appended to ``where.log``."""
    with contextlib.suppress(OSError):
        if os.stat(where.log).st_size > LOG_LIMIT:
            os.unlink(where.log)
    fd = os.open(where.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    command = [sys.executable, "-m", "kquant.server", "--key", where.key]
    if idle is not None:
        command += ["--idle", str(idle)]
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                cwd="/", start_new_session=True)  # fmt: skip
    finally:
        os.close(fd)


def _connect(where: Place) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(where.socket)
    except OSError:
        sock.close()
        return None
    return sock


def ask(where: Place, timeout: float = 5) -> dict[str, Any] | None:
    """The server's :meth:`~kquant.server.daemon.Server.info`, or None if none
    answers."""
    sock = _connect(where)
    if sock is None:
        return None
    with sock:
        sock.settimeout(timeout)
        try:
            send_request(sock, {"op": "status"})
            line = Lines(sock).next() or b""
        except OSError:
            return None
    if not line.startswith(b"info "):
        return None
    return json.loads(line[5:])


def start(idle: float | None, wait: float = 60) -> tuple[dict[str, Any], bool]:
    """Start this environment's server unless one runs; return its info and whether it
    was started now. A server whose code changed since it started (an upgrade) is
    stopped and replaced.

    Raises
    ------
    ServerError
        It exited, or did not answer within ``wait`` seconds (the log's last line).
    """
    where = place()
    info = ask(where)
    if info is not None and not info.get("stale"):
        return info, False
    if info is not None:
        _stop_one(where, wait=10)
    proc = spawn(where, idle)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        info = ask(where)
        if info is not None and info["pid"] == proc.pid:
            return info, True
        if proc.poll() is not None:
            info = ask(where)  # lost a race to another start: that one serves
            if info is not None:
                return info, False
            code = proc.returncode
            raise ServerError(f"the server exited with code {code}: {_last_line(where.log)}")
        time.sleep(0.02)
    proc.terminate()
    raise ServerError(f"the server did not answer within {wait:g} s: {_last_line(where.log)}")


def _last_line(log: str) -> str:
    try:
        with open(log, errors="replace") as fh:
            lines = fh.read().strip().splitlines()
    except OSError:
        lines = []
    return f"{lines[-1]} (log: {log})" if lines else f"see {log}"


def _server_pid(where: Place) -> int | None:
    """The pid of the process listening on ``where``'s socket (whatever its version)."""
    sock = _connect(where)
    if sock is None:
        return None
    with sock:
        return peer(sock)[0]


def _wait_gone(pid: int, timeout: float) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def stop(every: bool = False, wait: float = 10) -> list[int]:
    """Stop this environment's server (with ``every``, every server of this user);
    return the pids stopped. A server gets SIGTERM, and SIGKILL if it has not exited
    after ``wait`` seconds; commands it is running go on to their end."""
    where = place()
    places = [where]
    if every:
        names = sorted(os.listdir(where.folder))
        places = [Place(where.folder, n[: -len(".sock")]) for n in names if n.endswith(".sock")]
    return [pid for pid in (_stop_one(one, wait) for one in places) if pid is not None]


def _stop_one(where: Place, wait: float) -> int | None:
    """Stop the server of ``where`` (SIGTERM, SIGKILL after ``wait`` s); its pid, or
    None if none answered."""
    pid = _server_pid(where)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, wait):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, wait)
        with contextlib.suppress(OSError):
            os.unlink(where.socket)
    return pid


def status() -> dict[str, Any] | None:
    """This environment's server's info, or None if none runs."""
    return ask(place())
