"""Dask clusters for kquant's batches (``kquant compress --cluster``).

- :func:`connect` makes sure a Dask scheduler answers at an address, within a
  deadline whatever the other end does, before it makes the client
  (:class:`Cluster`).
- :class:`ClusterExecutor` runs jobs through the client, as
  ``client.get_executor()`` does, and keeps the addresses of the workers' nannies,
  so that once the scheduler is lost it can wait until none of them can still
  write an output (:meth:`ClusterExecutor.settle`, which :class:`kquant.run.batch.JobRun`
  calls).

``distributed`` (the optional extra ``cluster``) is imported when these are used.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from kquant.errors import KquantError, UsageError

__all__ = [
    "LOST_WAIT",
    "Cluster",
    "ClusterExecutor",
    "SchedulerUnreachable",
    "absolute_job",
    "connect",
    "connect_for_jobs",
]

#: Seconds kquant waits at most, once its scheduler is lost, for the workers to close.
#: A Dask worker that loses its scheduler finishes the task it is running (Dask
#: waits up to 30 s for it), then closes: after that it writes nothing.
LOST_WAIT = 40.0

#: Seconds of :func:`connect`'s deadline kept to ask a silent address whether it is an
#: HTTP server.
_HTTP_SNIFF = 1.5

#: Seconds between two looks at the workers while waiting for them to close.
_POLL = 0.25

#: Loggers that print to stderr on their own once ``distributed`` is imported.
_LOGGERS = ("distributed", "tornado", "bokeh", "asyncio")


class SchedulerUnreachable(KquantError):
    """No Dask scheduler answers at the address: nothing listens there, or what
    listens does not answer in time, closes the connection, does not speak Dask's
    protocol, or is not a scheduler. The message is one line, ``cannot reach a Dask
    scheduler at ADDRESS: REASON``."""


def connect(address: str, *, timeout: float = 5.0, quiet: bool = False) -> Cluster:
    """A :class:`Cluster` on the Dask scheduler at ``address``.

    ``distributed.Client(address, timeout=...)`` bounds the connection but not the
    handshake after it (a listener that accepts and never writes hangs it), and
    reads whatever comes back as Dask frames (an HTTP server's answer becomes a
    MemoryError). So the address is probed first: Dask's connection and handshake,
    then an ``identity`` request whose answer must come from a ``Scheduler``, all
    under one deadline of ``timeout`` seconds, in a thread and event loop of their
    own that end with the probe. Only then is the client made.

    With ``quiet``, the loggers of Dask and of what runs under it (tornado, asyncio)
    print nothing until :meth:`Cluster.close`: a command line says what went wrong
    itself, once.

    Raises
    ------
    SchedulerUnreachable
        Within about ``timeout`` seconds: connection refused (Dask retries until
        the deadline, as its client does), no answer, the connection closed, an
        answer that is not Dask's protocol (an HTTP server is named as such), or a
        Dask server that is not a scheduler.
    ImportError
        ``distributed`` is not installed.
    """
    from distributed import Client
    from distributed.security import Security

    silenced = _silence() if quiet else {}
    try:
        _probe(address, timeout, Security().get_connection_args("client"))
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, asyncio.TimeoutError, ValueError) as exc:
            raise SchedulerUnreachable(_message(address, _reason(exc, timeout))) from None
    except BaseException:
        _restore(silenced)
        raise
    return Cluster(client, silenced)


class Cluster:
    """A client of a Dask scheduler, made by :func:`connect`.

    Attributes
    ----------
    client : distributed.Client
    """

    def __init__(self, client: Any, silenced: dict[logging.Logger, int] | None = None) -> None:
        self.client = client
        self._silenced = silenced or {}
        self._executors: list[ClusterExecutor] = []

    def get_executor(self) -> ClusterExecutor:
        """An executor for :func:`kquant.run.batch.run_jobs`."""
        executor = ClusterExecutor(self.client)
        self._executors.append(executor)
        return executor

    def run(self, function: Any, *args: Any) -> dict[str, Any]:
        """``function(*args)`` on every worker: its result by worker address."""
        return self.client.run(function, *args)

    def close(self) -> None:
        """Close the client (at once if the scheduler is gone); the loggers
        :func:`connect` silenced speak again."""
        try:
            for executor in self._executors:
                executor._stop_looking()
            self.client.close()
        except (OSError, TimeoutError, asyncio.TimeoutError):
            pass  # the scheduler is gone: there is nothing to tell it
        finally:
            _restore(self._silenced)


class ClusterExecutor(Executor):
    """A Dask client's ``get_executor()`` that also keeps, for every worker of the
    cluster (there when it is made, or joining later: the scheduler's
    ``add-worker`` events), the address of its nanny, the process that starts it
    and outlives it, so that :meth:`settle` can wait for the workers once the
    scheduler is lost."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._inner = client.get_executor()
        self._lock = threading.Lock()
        self._nannies: dict[str, str | None] = {}
        self._stale = False  # workers joined since the last look (on the client's loop)
        self._looking: asyncio.Future | None = None
        client.subscribe_topic("all", self._event)
        self._learn(client.scheduler_info().get("workers", {}))
        client.loop.add_callback(self._wake)  # once more: who joined meanwhile

    def _learn(self, workers: dict[str, Any]) -> None:
        with self._lock:
            for address, info in workers.items():
                self._nannies[address] = info.get("nanny")

    def _event(self, event: tuple[float, Any]) -> None:
        """On the client's event loop: workers that join are looked up (their nannies)
        in the background, a burst of them at once."""
        message = event[1]
        if isinstance(message, dict) and message.get("action") == "add-worker":
            with self._lock:
                self._nannies.setdefault(message["worker"], None)
            self._wake()

    def _wake(self) -> None:
        self._stale = True
        if self._looking is None or self._looking.done():
            self._looking = asyncio.ensure_future(self._look())

    async def _look(self) -> None:
        while self._stale:
            self._stale = False
            await asyncio.sleep(_POLL)
            try:
                identity = await asyncio.wait_for(self._client.scheduler.identity(), 10)
            except Exception:
                return  # the scheduler is gone: what is known stays
            self._learn(identity.get("workers", {}))

    def _stop_looking(self) -> None:
        """Cancel a look under way (before the client closes: no task is left
        pending on its loop)."""
        looking = self._looking
        if looking is not None and not looking.done():
            self._client.loop.add_callback(looking.cancel)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait)

    def lost(self) -> bool:
        """Whether the client has lost its scheduler: futures not done by then never
        will be (:class:`kquant.run.batch.JobRun` polls this while it waits)."""
        return self._client.status != "running"

    def settle(self) -> tuple[str, bool]:
        """What happened to jobs whose futures were cancelled though kquant did not
        cancel them, and whether none of them can still write its output.

        When the scheduler is lost, the client cancels every future it holds: the
        results of jobs that were running cannot come back, but their workers finish
        them (writing the outputs, atomically), then close and their processes end
        (Dask gives a task 30 s; a worker closes its own address at once, which says
        nothing). So this waits until the nanny of every worker known has closed,
        which it does once its worker's process has ended: :data:`LOST_WAIT` seconds
        at most. A nanny that still answers then, a worker without a nanny (or whose
        nanny is not known) may still write.

        Returns
        -------
        what : str
            "the Dask scheduler was lost" (or, with the scheduler still there, "the
            Dask cluster cancelled it").
        settled : bool
            True if every worker's process has ended: nothing of the run can be
            written any more.
        """
        if self._client.status == "running":  # cancelled on the cluster: workers go on
            return "the Dask cluster cancelled it", False
        with self._lock:
            nannies = dict(self._nannies)
        watched = sorted({nanny for nanny in nannies.values() if nanny})
        args = getattr(self._client, "connection_args", {})
        try:
            closed = _run(_all_closed(watched, args, LOST_WAIT), LOST_WAIT + 5)
        except Exception:
            closed = False
        return "the Dask scheduler was lost", closed and all(nannies.values())


def _probe(address: str, timeout: float, connection_args: dict) -> None:
    """Return if a Dask scheduler answers at ``address`` within ``timeout`` seconds;
    raise :class:`SchedulerUnreachable` saying why not.

    The last :data:`_HTTP_SNIFF` seconds are kept to ask an address that stayed
    silent or answered noise whether it is an HTTP server (a dashboard's port, say):
    HTTP servers wait for a request line and say nothing to Dask's handshake."""
    from distributed.comm import parse_address, registry

    try:
        registry.get_backend(parse_address(address)[0])
    except ValueError as exc:
        raise SchedulerUnreachable(_message(address, str(exc))) from None
    budget = max(timeout - _HTTP_SNIFF, timeout / 2)
    refused = _refused(address, budget)
    if refused:
        raise SchedulerUnreachable(_message(address, refused))
    try:
        answer = _run(_identity(address, budget, connection_args), budget)
    except Exception as exc:
        reason = _reason(exc, timeout)
        silent = reason.startswith("no answer") or not isinstance(exc, OSError)
        if silent and _speaks_http(address, timeout - budget):
            reason = "an HTTP server answers there (a dashboard?), not a scheduler"
        raise SchedulerUnreachable(_message(address, reason)) from None
    kind = answer.get("type") if isinstance(answer, dict) else None
    if kind != "Scheduler":
        what = f"a Dask {kind}" if isinstance(kind, str) else "a Dask server"
        raise SchedulerUnreachable(_message(address, f"{what} answers there, not a scheduler"))


async def _identity(address: str, timeout: float, connection_args: dict) -> Any:
    """Dask's connection and handshake with ``address``, then its answer to
    ``identity``."""
    from distributed.comm import connect as dask_connect

    # Dask retries a refused connection until its timeout: ending well before the
    # deadline (a loaded machine needs the slack), it says why the last attempt failed
    comm = await dask_connect(address, timeout=0.6 * timeout, **connection_args)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


async def _all_closed(addresses: list[str], connection_args: dict, seconds: float) -> bool:
    """Whether every address in ``addresses`` refuses connections (checked every
    :data:`_POLL` seconds) within ``seconds``."""
    deadline = time.monotonic() + seconds
    left = set(addresses)
    while left:
        for address in sorted(left):
            if await _refuses(address, connection_args):
                left.discard(address)
        if not left or time.monotonic() > deadline:
            break
        await asyncio.sleep(_POLL)
    return not left


async def _refuses(address: str, connection_args: dict) -> bool:
    """Whether ``address`` refuses a connection (nothing listens there any more). A
    listener that accepts gets Dask's handshake, so a nanny's log stays quiet."""
    from distributed.comm import parse_address, registry

    try:
        scheme, location = parse_address(address)
        connector = registry.get_backend(scheme).get_connector()
        comm = await asyncio.wait_for(
            connector.connect(location, deserialize=False, **connection_args), 1
        )
    except Exception as exc:
        return any(isinstance(e, ConnectionRefusedError) for e in _chain(exc))
    try:
        await asyncio.wait_for(_handshake(comm), 1)
    except Exception:
        pass  # it answered the connection: alive
    finally:
        comm.abort()
    return False


async def _handshake(comm: Any) -> None:
    await comm.write(comm.handshake_info())
    await comm.read()


def _run(coroutine: Coroutine, timeout: float) -> Any:
    """``coroutine``'s result, or its exception, or TimeoutError after ``timeout``
    seconds; run in a thread and event loop of its own (a caller's own loop may be
    running) whose stray errors ("exception never retrieved") are dropped. The thread
    ends with the coroutine, which the deadline cancels."""
    box: dict[str, Any] = {}

    def target() -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda loop, context: None)
        try:
            box["value"] = loop.run_until_complete(asyncio.wait_for(coroutine, timeout))
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    thread = threading.Thread(target=target, name="kquant-dask-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]


def _message(address: str, reason: str) -> str:
    return f"cannot reach a Dask scheduler at {address}: {reason}"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling."""
    chain = [exc]
    while chain[-1].__cause__ or chain[-1].__context__:
        following = chain[-1].__cause__ or chain[-1].__context__
        if following in chain or following is None:
            break
        chain.append(following)
    return chain


def _reason(exc: BaseException, timeout: float) -> str:
    """Why a connection failed, in a few words."""
    from distributed.comm import CommClosedError

    chain = _chain(exc)
    for error in chain:
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, socket.gaierror):
            return f"unknown host ({error.strerror})"
    if any(isinstance(error, (TimeoutError, asyncio.TimeoutError)) for error in chain):
        return f"no answer within {timeout:g} s"
    if any(isinstance(error, CommClosedError) for error in chain):
        return "the connection was closed without an answer"
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)).splitlines()[0]
    return "what answers there does not speak Dask's protocol"


def _tcp_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a tcp:// Dask address, None for other schemes; ValueError for a
    malformed one."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    scheme, location = parse_address(address)
    return parse_host_port(location) if scheme == "tcp" else None


def _refused(address: str, seconds: float) -> str | None:
    """Why a plain TCP connection to a tcp:// ``address`` fails at once (refused, an
    unknown host), or None: Dask's own connect retries a refused connection until
    its timeout, and on a loaded machine the deadline can come first (then the
    reason read "no answer")."""
    try:
        host_port = _tcp_host_port(address)
        if host_port is None:
            return None
        with socket.create_connection(host_port, timeout=seconds):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror as exc:
        return f"unknown host ({exc.strerror})"
    except (OSError, ValueError):
        return None  # a timeout and the rest: Dask's probe says what it finds


def _speaks_http(address: str, seconds: float) -> bool:
    """Whether an HTTP server answers a request at ``address`` (a tcp:// one) within
    about ``seconds``."""
    try:
        host_port = _tcp_host_port(address)
        if host_port is None or seconds <= 0:
            return False
        with socket.create_connection(host_port, timeout=seconds / 2) as sock:
            sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            return sock.recv(5) == b"HTTP/"
    except (OSError, ValueError):
        return False


def _silence() -> dict[logging.Logger, int]:
    """Turn the loggers of :data:`_LOGGERS` (and those below them with a level of
    their own) off; return their levels before."""
    names = [name for name in list(logging.root.manager.loggerDict)
             if name.split(".")[0] in _LOGGERS]  # fmt: skip
    loggers = {logging.getLogger(name) for name in (*_LOGGERS, *names)}
    before = {logger: logger.level for logger in loggers
              if logger.level or logger.name in _LOGGERS}  # fmt: skip
    for logger in before:
        logger.setLevel(logging.CRITICAL + 1)
    return before


def _restore(levels: dict[logging.Logger, int]) -> None:
    for logger, level in levels.items():
        logger.setLevel(level)


#: Seconds --cluster gives the address to prove it is a Dask scheduler, whatever
#: answers there (or nothing): the bound of :func:`kquant.run.cluster.connect`.
CONNECT_TIMEOUT = 5.0


def connect_for_jobs(address: str, jobs: list) -> Cluster:
    """A :class:`kquant.run.cluster.Cluster` on the scheduler at ``address`` whose workers
    can all read the inputs and write the output folders of ``jobs`` (checked on one
    of each, before any work). Dask's log lines are silenced until it is closed: the
    errors are kquant's one-line ones.

    Raises
    ------
    kquant.errors.UsageError
        ``distributed`` is not installed, standard input or output, or a worker
        cannot see the paths.
    kquant.run.cluster.SchedulerUnreachable
        No Dask scheduler answers at ``address`` (within :data:`CONNECT_TIMEOUT`).
    """
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(
            "--cluster needs Dask: pip install 'kquant[cluster]' (or dask[distributed])"
        ) from None
    from kquant.run.plan import files_only

    files_only(jobs[:1], "--cluster")
    cluster = connect(address, timeout=CONNECT_TIMEOUT, quiet=True)
    if jobs:
        job = jobs[0]
        folder = job.output.parent
        while not folder.exists() and folder != folder.parent:  # created by the run
            folder = folder.parent
        seen = cluster.run(_sees, str(job.input.resolve()), str(folder.resolve()))
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if blind:
            cluster.close()
            raise UsageError(
                f"{job.input}: the cluster's workers {', '.join(blind)} cannot read it or "
                f"write in {folder}; --cluster needs paths every worker sees (a shared "
                "filesystem)"
            )
    return cluster


def _sees(path: str, folder: str) -> bool:
    """On a worker: can it read ``path`` and write in ``folder``?"""
    return os.access(path, os.R_OK) and os.access(folder, os.W_OK | os.X_OK)


def absolute_job(job: Any) -> Any:
    """``job`` with absolute paths (for workers elsewhere); - (standard input or
    output) stays as it is, for :func:`connect_for_jobs` to refuse."""

    def absolute(path: Path) -> Path:
        return path if str(path) == "-" else path.absolute()

    name = job.name
    if name is not None:
        name = dataclasses.replace(name, folder=name.folder.absolute(), input=absolute(name.input))
    return dataclasses.replace(job, input=absolute(job.input), output=absolute(job.output),
                               name=name)  # fmt: skip
