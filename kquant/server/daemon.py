"""The server: one process per user and environment that imported everything once
and forks one child per call.

Its life (:func:`serve`): take the lock (one server per key; a second one exits
quietly), import :data:`SERVER_IMPORTS` with one BLAS/OpenMP thread, check that no
thread runs (a fork copies only the forking thread: a lock held by another thread
would stay locked in every child forever), bind the socket (0600, in the checked
directory), then serve until told to stop (SIGTERM, SIGINT, SIGHUP: ``kquant server
stop`` sends SIGTERM), until its socket file is removed or replaced, until it has been
idle for ``idle`` seconds (if given), or until a client shows its code has changed.

For each connection (:meth:`Server._answer`): the peer must be this user
(``SO_PEERCRED``); a ``run`` request must come from a client of the same
:func:`~kquant.server.identity.identity`, with limits the child can take (no hard
limit above the server's, no lower nice value unless root), from a server whose code
has not changed on disk (else ``refused stale`` and the server exits). Then it forks:
the child runs :func:`kquant.server.child.run`; the server keeps the connection and a
pidfd of the child, and when the child ends, reaps it and sends ``status ...``.

Running children are not stopped with the server: each belongs to its client's
command, which ends as it would have (the child sends its own exit code).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import os
import resource
import select
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kquant.core.threads import controller
from kquant.server.child import run as run_child
from kquant.server.identity import CodeStamp, environment, identity, server_key
from kquant.server.place import Place
from kquant.server.wire import WireError, peer, read_request

__all__ = ["SERVER_IMPORTS", "Server", "serve"]

#: What the server imports before it serves: everything an in-process run of any
#: command imports (the pictures' matplotlib excepted: an optional extra).
SERVER_IMPORTS = (
    "kquant.cli.group",
    "kquant.cli.runner",
    "kquant.run.batch",
    "kquant.run.compress",
    "kquant.run.plan",
    "kquant.run.shared",
    "kquant.core.codebook",
    "kquant.core.dither",
    "kquant.core.dithermap",
    "kquant.core.metrics",
    "kquant.core.merging",
    "kquant.io.animation",
    "kquant.io.gif",
    "kquant.io.palettes",
    "kquant.analysis.comparison",
    "kquant.analysis.sweep",
    "kquant.analysis.html",
    # scikit-learn's k-means: by controller() below (kquant.core.kmeans, not the
    # whole sklearn.cluster)
    "sklearn.metrics",
    "scipy.ndimage",
    "threadpoolctl",
    "tqdm",
    *(f"PIL.{name}ImagePlugin" for name in ("Bmp", "Gif", "Jpeg", "Png", "Ppm", "WebP", "Tiff")),
)

#: Seconds a client has to send its request once connected.
REQUEST_TIMEOUT = 5
#: Seconds between checks that the socket file is still this server's.
CHECK_EVERY = 30


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} kquant server {os.getpid()}: {message}",
          file=sys.stderr, flush=True)  # fmt: skip


def _groups(pid: int) -> tuple[str, str]:
    """The real, effective, saved and file-system group ids and the supplementary
    groups of process ``pid`` (its /proc status lines; empty if unreadable)."""
    found = {"Gid:": "", "Groups:": ""}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                name, _, value = line.partition("\t")
                if name in found:  # Gid: in order; Groups: as a set
                    values = value.split()
                    found[name] = " ".join(values if name == "Gid:" else sorted(values, key=int))
    except OSError:
        pass
    return found["Gid:"], found["Groups:"]


@dataclass
class _Running:
    pid: int
    conn: socket.socket


@dataclass
class Server:
    """A bound, listening server; :meth:`loop` serves."""

    place: Place
    idle: float | None
    listener: socket.socket
    lock: Any
    identity: dict[str, Any]
    #: Environment variables the imports set (scikit-learn sets two for OpenMP): an
    #: in-process run has them once it has imported, so every child adds them.
    imports_set: dict[str, str]
    started: float = field(default_factory=time.time)
    served: int = 0
    running: dict[int, _Running] = field(default_factory=dict)  # by pidfd
    stopping: str = ""

    def __post_init__(self) -> None:
        self.stamp = CodeStamp()
        self.groups = _groups(os.getpid())
        self.inode = os.stat(self.place.socket).st_ino
        self.last = time.monotonic()
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        # the running calls' connections, watched for the client hanging up only
        # (EPOLLRDHUP: nothing is read, the child reads GO from the same socket)
        self.hangups = select.epoll()
        self.selector.register(self.hangups.fileno(), selectors.EVENT_READ)
        self.by_conn: dict[int, int] = {}  # connection fd -> the child's pidfd
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._signalled)
        signal.set_wakeup_fd(self.wake_w)

    def _signalled(self, signum: int, frame: Any) -> None:
        self.stopping = f"stopped by {signal.Signals(signum).name}"

    def loop(self) -> None:
        next_check = time.monotonic() + CHECK_EVERY
        while not self.stopping:
            timeout: float = CHECK_EVERY
            if self.idle is not None and not self.running:
                timeout = min(timeout, max(0.0, self.last + self.idle - time.monotonic()))
            for key, _ in self.selector.select(timeout):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj == self.wake_r:
                    with contextlib.suppress(OSError):
                        os.read(self.wake_r, 256)
                elif key.fileobj == self.hangups.fileno():
                    self._hung_up()
                else:
                    self._reap(key.fd)
            now = time.monotonic()
            if self.idle is not None and not self.running and now - self.last >= self.idle:
                self.stopping = f"idle for {self.idle:g} s"
            if now >= next_check:
                next_check = now + CHECK_EVERY
                if not self._socket_is_mine():
                    self.stopping = "its socket file was removed or replaced"
        self.close()

    def _socket_is_mine(self) -> bool:
        try:
            return os.stat(self.place.socket).st_ino == self.inode
        except OSError:
            return False

    def close(self) -> None:
        """Stop serving: the socket file goes (if it is still this server's); running
        children go on and end their commands."""
        _log(f"stopping: {self.stopping or 'closed'}")
        if self._socket_is_mine():
            with contextlib.suppress(OSError):
                os.unlink(self.place.socket)
        self.listener.close()
        for running in self.running.values():
            running.conn.close()
        self.lock.close()
        self.selector.close()
        self.hangups.close()
        signal.set_wakeup_fd(-1)
        for fd in (self.wake_r, self.wake_w):
            os.close(fd)

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.last = time.monotonic()
        try:
            self._answer(conn)
        except (OSError, WireError) as exc:
            _log(f"a request failed: {exc}")
            conn.close()

    def _answer(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        pid, uid = peer(conn)
        if uid != os.getuid():
            _log(f"refused process {pid} of uid {uid}: it serves uid {os.getuid()} only")
            conn.close()
            return
        conn.settimeout(REQUEST_TIMEOUT)
        request, fds = read_request(conn)
        conn.settimeout(None)
        op = request.get("op")
        if op == "run":
            self._run(conn, request, fds, pid)
            return
        for fd in fds:
            os.close(fd)
        if op == "status":
            conn.sendall(b"info %s\n" % json.dumps(self.info()).encode())
        conn.close()

    def info(self) -> dict[str, Any]:
        """What ``kquant server status`` shows."""
        return {
            "pid": os.getpid(),
            "socket": self.place.socket,
            "kquant": self.identity["kquant"],
            "python": sys.executable,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "uptime_s": round(time.time() - self.started, 1),
            "idle_exit_s": self.idle,
            "served": self.served,
            "calls_running": len(self.running),
            "stale": self.stamp.stale(),
        }

    def refusal(self, request: dict[str, Any], peer: int) -> str:
        """Why this server cannot run ``request`` of process ``peer`` as the client
        would, or ""."""
        theirs = request.get("identity", {})
        if theirs.get("kquant") != self.identity["kquant"]:
            return f"other-version: server {self.identity['kquant']}, client {theirs.get('kquant')}"
        if theirs != self.identity:
            differ = sorted(k for k in self.identity.keys() | theirs.keys()
                            if theirs.get(k) != self.identity.get(k))  # fmt: skip
            return f"other-environment: {', '.join(differ)}"
        if _groups(peer) != self.groups:  # files it writes would get our groups
            return "other-groups: the client's group ids are not the server's"
        if self.stamp.stale():
            return "stale: kquant or a package of its environment changed since the server started"
        for name, (_, hard) in request.get("limits", {}).items():
            mine = resource.getrlimit(getattr(resource, name))[1]
            if mine != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > mine):
                return f"limits: {name} above the server's"
        if os.getuid() != 0 and request.get("nice", 0) < os.getpriority(os.PRIO_PROCESS, 0):
            return "limits: a lower nice value than the server's"
        return ""

    def _run(self, conn: socket.socket, request: dict[str, Any], fds: list[int], peer: int) -> None:
        try:
            reason = self.refusal(request, peer)
            if reason:
                _log(f"refused a call: {reason}")
                conn.sendall(f"refused {reason}\n".encode())
                conn.close()
                if reason.startswith("stale"):
                    self.stopping = reason
                return
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            pid = os.fork()  # an OSError (no memory, no processes left): the client's fds
            if pid == 0:  # are closed below, and it runs the call in process
                try:
                    self._close_in_child()
                    run_child(conn, request, fds, self.imports_set)
                finally:
                    os._exit(70)
        finally:
            for fd in fds:
                os.close(fd)
        self.served += 1
        pidfd = os.pidfd_open(pid)
        self.running[pidfd] = _Running(pid, conn)
        self.selector.register(pidfd, selectors.EVENT_READ)
        self.hangups.register(conn.fileno(), select.EPOLLRDHUP | select.EPOLLHUP)
        self.by_conn[conn.fileno()] = pidfd

    def _hung_up(self) -> None:
        """Clients gone before their call's end (killed outright): each child dies as
        a process killed outright would (SIGKILL; its workers, which watch it, stop
        their tasks and remove their temporary files), continued first in case it was
        stopped (Ctrl-Z) with its client."""
        for fd, _ in self.hangups.poll(0):
            self.hangups.unregister(fd)
            pidfd = self.by_conn.pop(fd, None)
            if pidfd is None or pidfd not in self.running:
                continue
            with contextlib.suppress(OSError):
                os.killpg(self.running[pidfd].pid, signal.SIGCONT)  # not reaped: no reuse
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    def _close_in_child(self) -> None:
        """In a new child: close what is the server's (its lock, listener, wake-up pipe,
        the connections and pidfds of the other children)."""
        signal.set_wakeup_fd(-1)
        self.selector.close()
        self.hangups.close()
        self.listener.close()
        self.lock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        for pidfd, running in self.running.items():
            os.close(pidfd)
            running.conn.close()

    def _reap(self, pidfd: int) -> None:
        running = self.running.pop(pidfd)
        self.selector.unregister(pidfd)
        if self.by_conn.pop(running.conn.fileno(), None) is not None:
            self.hangups.unregister(running.conn.fileno())
        os.close(pidfd)
        _, status = os.waitpid(running.pid, 0)
        if os.WIFSIGNALED(status):
            answer = b"status signaled %d\n" % os.WTERMSIG(status)
        else:
            answer = b"status exited %d\n" % os.waitstatus_to_exitcode(status)
        with contextlib.suppress(OSError):
            running.conn.sendall(answer)
        running.conn.close()
        self.last = time.monotonic()


def _take_lock(place: Place, wait: float) -> Any:
    """The server's lock file, locked; None if another server holds it for ``wait``
    seconds (a stale server may be on its way out)."""
    fh = open(place.lock, "a")  # noqa: SIM115 (held for the server's life)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                return None
            time.sleep(0.05)


def _import_all() -> dict[str, str]:
    """Import :data:`SERVER_IMPORTS`; return the environment variables they set."""
    before = dict(os.environ)
    for name in SERVER_IMPORTS:
        importlib.import_module(name)
    controller()  # the children's thread limits, without walking the libraries again
    # what is alive now stays in place: a child's garbage collections do not touch
    # (and copy) the pages of the server's objects
    gc.collect()
    gc.freeze()
    threads = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["1"]
    if threading.active_count() != 1 or len(threads) != 1:
        raise RuntimeError(f"{len(threads)} threads run after the imports; a fork needs one")
    return {k: v for k, v in os.environ.items() if before.get(k) != v}


def serve(key: str, idle: float | None) -> int:
    """Be the server for ``key`` (which must be this process's own environment's);
    return the process's exit code."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    ident = identity()
    own = server_key(environment())
    if own != key:
        _log(f"refusing to start: asked to serve {key}, this environment is {own}")
        return 1
    place = Place.find(key)
    lock = _take_lock(place, wait=3)
    if lock is None:
        _log("another server holds the lock: nothing to do")
        return 0
    imports_set = _import_all()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(place.socket)  # a stale one: the live server would hold the lock
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(place.socket)
    finally:
        os.umask(old)
    listener.listen(64)
    listener.setblocking(False)
    server = Server(place, idle, listener, lock, ident, imports_set)
    _log(f"serving {place.socket} (kquant {server.identity['kquant']}, {sys.executable})")
    server.loop()
    return 0
