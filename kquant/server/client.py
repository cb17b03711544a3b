"""The ``kquant`` console script: through this environment's server when one runs,
else in this process.

``KQUANT_SERVER`` chooses: unset, empty or ``on``, a running server is used and none
is started; ``auto`` also starts one in the background when none runs (this call runs
in process; it exits after :data:`~kquant.server.control.AUTO_IDLE` idle);
``off`` never uses one. ``kquant server ...`` always runs in process.

Through a server (:func:`call_server`), the client sends its argv, environment,
umask, limits, ignored signals and the descriptors of its working directory, stdin,
stdout and stderr; it forwards the signals it gets (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
SIGUSR1, SIGUSR2, SIGALRM) to the child through a pidfd, stops and continues the
child with itself (SIGTSTP: Ctrl-Z), and ends with the child's exit code, or by the
signal that killed the child. Anything short of ``started``
(no server, a stale socket, a refusal, a server that does not answer within
:data:`ANSWER_TIMEOUT`) and the call runs in process, as if there were no server.
"""

from __future__ import annotations

import _signal
import _socket
import io
import os
import resource
import sys

# What a call through a server costs is mostly what this module imports: only the C
# modules under ``socket`` and ``signal`` and what Python has imported at start-up
# (about 1 ms; ``socket``, ``signal``, ``contextlib``, ``typing`` and ``json`` were
# 10-25 ms of a call, docs/BENCHMARKS.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from kquant.server.place import Place

__all__ = ["ANSWER_TIMEOUT", "MODES", "call_server", "main"]

#: ``KQUANT_SERVER`` values and what they mean.
MODES = {"": "on", "on": "on", "1": "on", "auto": "auto", "off": "off", "0": "off"}
#: Seconds to wait for the server's first answer before running in process (it
#: answers within about 10 ms: this is a hung or overloaded server).
ANSWER_TIMEOUT = 3
#: Signals forwarded to the child (those not ignored here); SIGTSTP stops it and
#: this process together (:func:`_forwarder`). A terminal's own (Ctrl-C,
#: Ctrl-backslash, Ctrl-Z) go to the child's process group, its workers too, as a terminal sends
#: them to its foreground job.
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT,
             _signal.SIGUSR1, _signal.SIGUSR2, _signal.SIGALRM, _signal.SIGTSTP)  # fmt: skip
_TO_GROUP = (_signal.SIGINT, _signal.SIGQUIT, _signal.SIGSTOP, _signal.SIGCONT)
#: Paths that name one of this process's descriptors: a child has only 0, 1 and 2.
_OWN_FDS = ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/")


def main() -> NoReturn:
    """Run ``kquant`` with ``sys.argv``: through a server or in process."""
    mode = MODES.get(os.environ.get("KQUANT_SERVER", "").strip().lower())
    if mode is None:
        sys.stderr.write(
            f"kquant: error: KQUANT_SERVER={os.environ['KQUANT_SERVER']!r}: use auto, on or off\n"
        )
        sys.stderr.flush()
        os._exit(2)
    argv = sys.argv[1:]
    if mode != "off" and argv[:1] != ["server"] and not _names_own_fds(argv):
        try:
            code = call_server(argv, auto=mode == "auto")
        except KeyboardInterrupt:  # Ctrl-C before a child started: nothing was done
            sys.stderr.write("kquant: interrupted\n")
            sys.stderr.flush()
            os._exit(128 + _signal.SIGINT)
        if code is not None:
            os._exit(code)
    from kquant.cli.group import main as in_process

    in_process()


def _names_own_fds(argv: list[str]) -> bool:
    """Whether an argument names a descriptor of this process other than 0-2
    (``<(...)`` in bash, ``--files-from /dev/fd/3``): only in process can it be read."""
    for arg in argv:
        value = arg.split("=", 1)[-1] if arg.startswith("-") else arg
        if value.startswith(_OWN_FDS) and value.rsplit("/", 1)[-1] not in ("0", "1", "2"):
            return True
    return False


def _stream(stream: Any) -> dict[str, Any] | None:
    """How Python made ``stream`` (None if the descriptor was closed at start)."""
    try:
        os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # None, closed, or no descriptor
        return None
    return {
        "encoding": stream.encoding,
        "errors": stream.errors,
        "line_buffering": stream.line_buffering,
        "write_through": stream.write_through,
        "buffered": isinstance(stream.buffer, io.BufferedIOBase),
    }


def _request(argv: list[str]) -> tuple[dict[str, Any], list[int]]:
    from kquant.server.identity import identity
    from kquant.server.wire import LIMITS, SKIPPED_SIGNALS

    try:
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:  # a folder one may enter but not list
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    stdio = [_stream(s) for s in (sys.stdin, sys.stdout, sys.stderr)]
    fds = [cwd] + [fd for fd, info in enumerate(stdio) if info is not None]
    umask = os.umask(0o022)
    os.umask(umask)
    request = {
        "op": "run",
        "identity": identity(),
        "argv": [sys.argv[0], *argv],
        "path0": sys.path[0] if sys.path else "",
        "env": dict(os.environ),
        "umask": umask,
        "stdio": stdio,
        "limits": {name: resource.getrlimit(getattr(resource, name)) for name in LIMITS},
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "cpus": sorted(os.sched_getaffinity(0)),
        "ignored": [
            int(s)
            for s in _signal.valid_signals()
            if s not in SKIPPED_SIGNALS and _signal.getsignal(s) == _signal.SIG_IGN
        ],
    }
    return request, fds


def call_server(argv: list[str], auto: bool = False) -> int | None:
    """Run ``kquant argv`` through this environment's server; its exit code, or None
    if no server took the call (the caller runs it in process). With ``auto``, start
    a server in the background when none runs or the one there is stale."""
    from kquant.server.identity import environment, server_key
    from kquant.server.place import Place, UnsafePlaceError

    try:  # the folder is made only to start a server in it (auto)
        where = Place.find(server_key(environment()), create=auto)
    except UnsafePlaceError:
        return None  # `kquant server start` and `status` say why (or there is none)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(where.socket)
        except OSError:  # no server, or a stale socket file
            if auto:
                _spawn(where)
            return None
        return _call(sock, argv, where if auto else None)
    finally:
        sock.close()


def _spawn(where: Place) -> None:
    import fcntl

    try:
        with open(where.lock, "a") as fh:
            try:  # a server that holds the lock is starting (or stopping): leave it be
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            fcntl.flock(fh, fcntl.LOCK_UN)
            from kquant.server.control import AUTO_IDLE, spawn

            spawn(where, AUTO_IDLE)
    except OSError:
        pass


def _call(sock: Any, argv: list[str], respawn: Place | None) -> int | None:
    from kquant.server.wire import GO, Lines, send_request

    request, fds = _request(argv)
    try:
        sock.settimeout(ANSWER_TIMEOUT)
        send_request(sock, request, fds)
        lines = Lines(sock)
        first = lines.next()
    except OSError:
        return None
    finally:
        os.close(fds[0])
    if first is None or not first.startswith(b"started "):
        if respawn is not None and first is not None and first.startswith(b"refused stale"):
            _spawn(respawn)
        return None
    sock.settimeout(None)
    pid = int(first.split()[1])
    pidfd = os.pidfd_open(pid)
    forward = _forwarder(pidfd, pid)
    previous = {s: _signal.signal(s, forward) for s in FORWARDED
                if _signal.getsignal(s) != _signal.SIG_IGN}  # fmt: skip
    sock.sendall(GO)
    code = _outcome(lines)
    for signum, handler in previous.items():
        _signal.signal(signum, handler)
    os.close(pidfd)
    return code


def _forwarder(pidfd: int, pid: int) -> Any:
    """The handler of the forwarded signals: sent to the child (``pidfd``). SIGTSTP (a
    terminal's Ctrl-Z) stops the child's process group (the child and its workers:
    SIGSTOP), then this process as the signal would; once continued (``fg``, ``bg``),
    the group is continued too: job control works as on one process."""

    def send(signum: int) -> None:
        try:
            if signum in _TO_GROUP:
                os.killpg(pid, signum)  # the child leads its group (child.take_over)
            else:
                _signal.pidfd_send_signal(pidfd, signum)
        except OSError:
            pass

    def forward(signum: int, frame: Any) -> None:
        if signum != _signal.SIGTSTP:
            send(signum)
            return
        send(_signal.SIGSTOP)
        _signal.signal(_signal.SIGTSTP, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGTSTP)  # stopped here until continued
        _signal.signal(_signal.SIGTSTP, forward)
        send(_signal.SIGCONT)

    return forward


def _outcome(lines: Any) -> int:
    """The exit code: the child's own (``exit N``), else the server's account of it
    (``status ...``); a child killed by a signal makes this process die by it too."""
    found = None
    while (line := lines.next()) is not None:
        if found is None and line.startswith((b"exit ", b"status ")):
            found = line.split()
    if found is None:
        sys.stderr.write("kquant: error: the kquant server's process ended without an exit code\n")
        return 1
    if found[:2] == [b"status", b"signaled"]:
        signum = int(found[2])
        sys.stdout.flush()
        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum  # not reached for a signal that kills
    return int(found[-1])
