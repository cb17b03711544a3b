"""A server's child: it takes on its caller's process state, then runs the command.

Forked from the server with everything imported, the child becomes what ``kquant``
would have been in the caller's own process (:func:`take_over`): the caller's
working directory (a descriptor, so a renamed or unreachable folder works as it
would), environment and locale, umask, resource limits, nice value and CPU affinity,
ignored signals, argv, stdin, stdout and stderr (its descriptors, with Python's
streams made over them exactly as the caller's interpreter made its own: encoding,
errors, line buffering), and the OpenMP thread count its environment asks for. BLAS
runs one thread unless the environment sets a count: kquant's matrix products are
small, and in a forked child the first product on two threads paid for starting them
(a 640x480 photo at k = 64: 0.46 s of work with two, 0.40 s with one; at 4 MP the
same time either way). Then :func:`run` runs :func:`kquant.cli.group.run`, the code
of an in-process run, and ends with its exit code.

A thread watches the connection: if the client goes away before the end (killed
outright), the child's stdout and stderr are pointed at ``/dev/null`` and the child
dies as a process killed outright would (its workers see it and stop their tasks),
so nothing is left writing; the server does the same for a child stopped (Ctrl-Z)
with its client.
"""

from __future__ import annotations

import contextlib
import io
import locale
import os
import resource
import signal
import socket
import sys
import threading
import traceback
from typing import Any, NoReturn

from kquant.core import threads
from kquant.server.identity import thread_counts
from kquant.server.wire import GO, SKIPPED_SIGNALS

__all__ = ["run", "take_over"]


def _stream(fd: int, info: dict[str, Any], reading: bool) -> io.TextIOWrapper:
    """A text stream over ``fd`` made as Python makes ``sys.stdin``/``stdout``/``stderr``
    (``create_stdio``), with the caller's settings."""
    # open(), as Python does: its buffer size is the descriptor's st_blksize
    mode, buffering = ("rb", -1) if reading else ("wb", -1 if info["buffered"] else 0)
    buffer: Any = open(fd, mode, buffering=buffering, closefd=False)  # noqa: SIM115
    return io.TextIOWrapper(
        buffer,
        encoding=info["encoding"],
        errors=info["errors"],
        newline="\n",
        line_buffering=info["line_buffering"],
        write_through=info["write_through"],
    )


def _stdio(request: dict[str, Any], fds: list[int]) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    given = iter(fds)
    streams: list[io.TextIOWrapper | None] = []
    for fd, info in enumerate(request["stdio"]):
        if info is None:  # closed in the caller: closed here (it was /dev/null)
            os.dup2(devnull, fd)
            os.close(fd)
            streams.append(None)
            continue
        source = next(given)
        os.dup2(source, fd)
        os.close(source)
        streams.append(_stream(fd, info, reading=fd == 0))
    os.close(devnull)
    sys.stdin, sys.stdout, sys.stderr = streams  # type: ignore[assignment]
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc]


def _signals(ignored: list[int]) -> None:
    signal.set_wakeup_fd(-1)
    for signum in signal.valid_signals():
        if signum in SKIPPED_SIGNALS:
            continue
        if signum in ignored:
            handler: Any = signal.SIG_IGN
        elif signum == signal.SIGINT:
            handler = signal.default_int_handler
        else:
            handler = signal.SIG_DFL
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, handler)


def take_over(request: dict[str, Any], fds: list[int], imports_set: dict[str, str]) -> None:
    """Become the caller: ``fds`` are its working directory, then its stdin, stdout
    and stderr (those it has open, as ``request["stdio"]`` lists them);
    ``imports_set``, what the server's imports added to its environment, is added to
    the caller's (unless set there), as the same imports would in its process."""
    os.setpgid(0, 0)  # a group of its own, with its workers: Ctrl-Z stops them all
    os.fchdir(fds[0])
    os.close(fds[0])
    os.environ.clear()
    os.environ.update(request["env"])
    for name, value in imports_set.items():
        os.environ.setdefault(name, value)
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_CTYPE, "")
    os.umask(request["umask"])
    for name, (soft, hard) in request["limits"].items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.setpriority(os.PRIO_PROCESS, 0, request["nice"])
    os.sched_setaffinity(0, request["cpus"])
    _signals(request["ignored"])
    sys.argv = list(request["argv"])
    if sys.path:  # the script's folder, as the caller's interpreter has it
        sys.path[0] = request.get("path0", sys.path[0])
    for api, count in thread_counts(request["env"], blas_default=1).items():
        threads.limit(count, api)
    _stdio(request, fds[1:])


def _watch(conn: socket.socket) -> None:
    """Wait for the client's end of ``conn`` to close; if it closes while the command
    runs (the client killed outright), die as a process killed outright would: its
    workers, which watch it, stop their tasks. The server does the same (and
    continues a child stopped with its client first); this covers a server that is
    gone."""
    with contextlib.suppress(OSError):
        while conn.recv(64):
            pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    with contextlib.suppress(Exception):
        print(exc.code, file=sys.stderr)
    return 1


def run(
    conn: socket.socket, request: dict[str, Any], fds: list[int], imports_set: dict[str, str]
) -> NoReturn:
    """Take over the caller (:func:`take_over`), answer ``started PID``, wait for
    :data:`GO`, run the command and end with its exit code, sent as ``exit CODE``."""
    try:
        take_over(request, fds, imports_set)
    except Exception as exc:  # the client runs the command in its own process
        with contextlib.suppress(OSError):
            conn.sendall(f"refused setup: {exc}\n".encode(errors="replace"))
        os._exit(0)
    conn.sendall(b"started %d\n" % os.getpid())
    if conn.recv(1) != GO:  # the client gave up waiting: nothing was done
        os._exit(0)
    threading.Thread(target=_watch, args=(conn,), daemon=True).start()
    from kquant.cli.group import run as run_command

    try:
        code = run_command()
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:  # as Python ends on an uncaught Ctrl-C: killed by SIGINT
        traceback.print_exc()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    except BaseException:
        sys.excepthook(*sys.exc_info())
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        code = 1
    with contextlib.suppress(OSError):
        conn.sendall(b"exit %d\n" % code)
    os._exit(code)
