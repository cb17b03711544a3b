"""A local pool of worker processes that survives its workers.

:class:`WorkerPool` is a :class:`concurrent.futures.Executor`, so the batch logic
(:func:`kquant.run.batch.run_jobs`) is the same for it as for a Dask cluster's executor.
What it adds to :class:`~concurrent.futures.ProcessPoolExecutor`:

- A worker that dies (killed, out of memory) costs only the task it was running:
  that task's future fails with :class:`WorkerDied` (naming the signal), the pool
  is rebuilt and every other unfinished task is run again, as Dask reschedules the
  tasks of a lost worker. (A plain ``ProcessPoolExecutor`` fails every pending
  future with ``BrokenProcessPool`` and cannot tell which task killed it.)
- :meth:`WorkerPool.interrupt` stops the tasks in hand (SIGINT to each worker: a
  task stops where it is, removing its temporary files on the way out, and its
  future fails with :class:`TaskInterrupted`) and waits for the workers.
- On Linux, workers come from a fork server (``multiprocessing``'s ``forkserver``):
  one clean process, started once per parent process and kept for its life, imports
  the ``preload`` modules (for kquant, scikit-learn: about a second) and forks every
  worker of every pool round, so the import is paid once rather than once per worker
  and again on each rebuild. No worker is a fork of the threaded parent. Elsewhere
  workers are spawned (macOS: forking a process that has loaded Accelerate or libomp
  is unsafe; Windows has no fork). Workers run one BLAS/OpenMP thread each (set in
  the environment before the fork server starts: a fork server already running in
  a program that uses this module keeps its own) and end when the parent dies, even
  by SIGKILL (a thread in each worker waits on the parent's pidfd).

Everything here is generic: it runs any picklable module-level function.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, cast

__all__ = ["TaskInterrupted", "WorkerDied", "WorkerPool"]

#: Linux's prctl option that sends the calling process a signal when its parent dies.
_PR_SET_PDEATHSIG = 1
#: Rounds in a row that may break without any task to blame before the pool gives up.
_MAX_UNEXPLAINED_BREAKS = 3


class WorkerDied(Exception):
    """The worker process running a task died (a signal, or the machine's OOM
    killer)."""


class TaskInterrupted(Exception):
    """A task stopped by :meth:`WorkerPool.interrupt` (or by Ctrl-C sent to the
    worker) before it finished."""


# State of a worker process, set by _worker_init.
# shared array: for each worker slot, its pid and the task it runs; last, 1 once the
# pool's owner stops it (WorkerPool.interrupt)
_slots: Any = None
_slot = -1
_in_task = False


class _Interrupt(BaseException):
    """Raised inside a worker's task by SIGINT/SIGTERM; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _umask() -> int:
    """This process's umask (read by setting it, then set back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _worker_init(slots: Any, parent: int, sigint_ignored: bool = False, umask: int = 0o022) -> None:
    """Initializer of a worker process.

    - Takes a slot in ``slots`` (two ints per worker: its pid, and the id of the task
      it is running or -1; then one flag for the pool, set when its owner stops it),
      so the parent can tell which task a dead worker had. A
      pool's workers are started one after another, so their process numbers are
      consecutive and distinct modulo the number of slots (no lock needed).
    - SIGINT: the task in hand stops (:class:`TaskInterrupted`) and the worker goes
      on with the next; an idle worker ignores it. So a busy worker interrupted alone
      (``kill -INT``) costs one task, and a terminal's Ctrl-C, which reaches every
      process of the group, prints no worker traceback. What stops a run is the
      owner's :meth:`WorkerPool.interrupt`: it sets the pool's flag (a task given to
      a worker after it fails at once; tasks already queued cannot be cancelled)
      before it sends SIGINT. Unless the parent ignores
      SIGINT (``sigint_ignored``: started in the background by a shell script, or
      under ``nohup``-like wrappers): then its workers ignore it too, as the run does.
    - SIGTERM (the parent died, the pool is torn down, someone kills the worker):
      the task in hand stops the same way and the worker exits at once, 128 + 15.
    - Ends the worker (SIGTERM to itself, so the task in hand cleans up) when the
      pool's owner ``parent`` ends, even by SIGKILL: a thread waits on the owner's
      pidfd. The fork server cannot do it for them: it exits only once every process
      holding its pipe, its workers included, has.
    - Asks the kernel for SIGTERM when the fork server dies (its workers' results
      could no longer be told from a death).
    - Takes the owner's ``umask`` for the files it writes: a fork server started by
      an earlier run of a long-lived process (a program using the library, a test
      session) keeps the umask of then, and its workers would too.
    """
    os.umask(umask)

    global _slots, _slot
    forker = os.getppid()

    def on_signal(signum, frame):
        if _in_task:
            raise _Interrupt(signum)
        if signum == signal.SIGTERM:
            os._exit(128 + signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN if sigint_ignored else on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # the pid goes in the slot only now: the owner signals the pids it finds there
    _slots = slots
    _slot = _worker_number() % (len(slots) // 2)  # len(slots) is odd
    _slots[2 * _slot], _slots[2 * _slot + 1] = os.getpid(), -1
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass
    if os.getppid() != forker:  # the fork server died before prctl
        os._exit(128 + signal.SIGTERM)
    if os.name == "posix":  # (Windows: workers end when their queue closes)
        threading.Thread(target=_end_with, args=(parent,), daemon=True).start()


def _end_with(owner: int) -> None:
    """Wait until process ``owner`` ends, then send this process SIGTERM. Linux's
    pidfd tells at once (also when ``owner`` is an unreaped zombie); on other POSIX
    systems, or kernels before 5.3, ``owner`` is polled twice a second (``kill(pid,
    0)``, which on Windows would be a Ctrl-C: not called there)."""
    import select
    import time

    try:
        fd = os.pidfd_open(owner)
    except (AttributeError, OSError):  # no pidfd, or owner already gone (ESRCH)
        while _exists(owner):
            time.sleep(0.5)
    else:
        select.select([fd], [], [])
    os.kill(os.getpid(), signal.SIGTERM)


def _exists(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def _run_task(task: int, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """Run ``fn`` in a worker, recording ``task`` in the worker's slot meanwhile."""
    global _in_task
    try:  # the signal may come at any point, also while the slot is being cleared
        try:
            _slots[2 * _slot + 1] = task
            _in_task = True
            if _slots[-1]:  # stopped, flag set before the signal: one of them is seen
                raise TaskInterrupted()
            return fn(*args, **kwargs)
        finally:
            _in_task = False
            _slots[2 * _slot + 1] = -1
    except _Interrupt as exc:
        if exc.signum == signal.SIGTERM:
            os._exit(128 + exc.signum)
        raise TaskInterrupted() from None


# -- the two private attributes of the standard library kquant reads, here only;
# tests/test_pool.py::test_the_private_attributes_still_exist fails if Python changes them


def _pool_processes(pool: ProcessPoolExecutor) -> dict[int, Any]:
    """The worker processes of ``pool`` by pid (``ProcessPoolExecutor._processes``):
    their exit codes tell which died of a signal, and they get SIGINT on Ctrl-C."""
    return dict(getattr(pool, "_processes", None) or {})


def _worker_number() -> int:
    """This worker's number in its pool, 1, 2, ... in start order
    (``multiprocessing.current_process()._identity``): its slot in the shared table."""
    import multiprocessing

    return multiprocessing.current_process()._identity[0]


def _ignored(signum: int) -> bool:
    """Whether this process was started with ``signum`` ignored (``nohup``, a shell
    script's background job)."""
    return signal.getsignal(signum) is signal.SIG_IGN


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _Task(Future):
    """The future :meth:`WorkerPool.submit` returns; it follows the task through
    pool rebuilds. Cancelling succeeds only while the task has not started."""

    def __init__(self, task: int, call: tuple) -> None:
        super().__init__()
        self.task, self.call = task, call
        self.inner: Future | None = None

    def cancel(self) -> bool:
        inner = self.inner
        if inner is not None and not inner.cancel():
            return False
        return super().cancel()


class WorkerPool(Executor):
    """``max_workers`` worker processes forked by a fork server that has imported
    ``preload`` (module names); see the module's docstring.

    Examples
    --------
    >>> with WorkerPool(2) as pool:
    ...     print(pool.submit(pow, 2, 10).result())
    1024
    """

    def __init__(self, max_workers: int, preload: tuple[str, ...] = ()) -> None:
        import multiprocessing

        # One core's worth of BLAS/OpenMP threads per worker, set before the fork
        # server starts (it imports numpy; the workers inherit its environment).
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        self._context: Any
        if sys.platform == "linux":
            self._context = multiprocessing.get_context("forkserver")
            if preload:  # one fork server per process: this counts when it starts
                self._context.set_forkserver_preload(list(preload))
        else:  # each worker imports what it needs
            self._context = multiprocessing.get_context("spawn")
        self._max_workers = max(1, max_workers)
        self._lock = threading.RLock()
        self._tasks: dict[int, _Task] = {}  # submitted and not finished
        self._next = 0
        self._inner: ProcessPoolExecutor | None = None
        self._slots: Any = None
        self._processes: dict[int, Any] = {}
        self._unexplained = 0
        self._shutdown = False
        self._teardowns: list[threading.Thread] = []  # of broken rounds

    # -- the executor interface

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a WorkerPool that was shut down")
            task = _Task(self._next, (fn, args, kwargs))
            self._next += 1
            self._tasks[task.task] = task
            self._start(task)
            return task

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for task in list(self._tasks.values()):
                    task.cancel()
            inner = self._inner
        if inner is not None:
            _shutdown(inner, wait=wait, cancel_futures=cancel_futures)
        if wait:
            self._settle()

    def interrupt(self) -> None:
        """Stop: cancel the tasks not started, flag the pool stopped (a queued task
        fails as it starts), send SIGINT to every started worker (tasks in hand fail
        with :class:`TaskInterrupted`, having cleaned up), and wait for the workers
        to end."""
        with self._lock:
            self._shutdown = True
            for task in list(self._tasks.values()):
                task.cancel()
            inner, processes = self._inner, dict(self._processes)
            ready = set()
            if self._slots is not None:
                self._slots[-1] = 1  # before the signals: no queued task starts
                ready = set(self._slots[0:-1:2])
        for pid in processes.keys() & ready:
            # A worker still starting gets nothing: it has no handler yet (SIGINT
            # would print its traceback) and no task, and the flag fails any task it
            # takes. Killing it would break the pool, and Python 3.11 then fails
            # the cancelled futures again, printing the manager thread's traceback.
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGINT)
        if inner is not None:
            _shutdown(inner)
        self._settle()

    # -- inside

    def _pool(self) -> ProcessPoolExecutor:
        """The current round's process pool, started on first use."""
        if self._inner is None:
            self._slots = self._context.Array("q", 2 * self._max_workers + 1, lock=False)
            self._inner = ProcessPoolExecutor(
                max_workers=self._max_workers,
                mp_context=self._context,
                initializer=_worker_init,
                initargs=(self._slots, os.getpid(), _ignored(signal.SIGINT), _umask()),
            )
            self._processes = {}
        return self._inner

    def _start(self, task: _Task) -> None:
        """Hand ``task`` to the current process pool (lock held)."""
        pool = self._pool()
        fn, args, kwargs = task.call
        try:
            inner = pool.submit(_run_task, task.task, fn, args, kwargs)
        except BrokenProcessPool:  # broke between rounds: the next round takes it
            inner = Future()
            inner.set_exception(BrokenProcessPool())
        except Exception as exc:  # no worker could start (fork server gone, no memory)
            inner = Future()
            inner.set_exception(exc)
        task.inner = inner
        self._processes.update(_pool_processes(pool))
        inner.add_done_callback(functools.partial(self._done, task, pool))

    def _done(self, task: _Task, pool: ProcessPoolExecutor, inner: Future) -> None:
        if inner.cancelled():
            with self._lock:
                self._tasks.pop(task.task, None)
            super(_Task, task).cancel()
            return
        exc = inner.exception()
        if isinstance(exc, BrokenProcessPool):
            self._broken(pool)
            return
        with self._lock:
            self._tasks.pop(task.task, None)
            if exc is None:
                self._unexplained = 0
        if task.set_running_or_notify_cancel():
            if exc is None:
                task.set_result(inner.result())
            else:
                task.set_exception(exc)

    def _broken(self, pool: ProcessPoolExecutor) -> None:
        """A worker of ``pool`` died: blame the task it was running, start a new
        round for the other unfinished tasks (once per broken pool)."""
        with self._lock:
            if pool is not self._inner:
                return  # this round was already handled
            processes = dict(self._processes)
            processes.update(_pool_processes(pool))
            slots = list(self._slots)
            self._inner = None
            running = {slots[2 * s]: slots[2 * s + 1] for s in range(self._max_workers)}
            ended = _ended(processes)
            dead = {pid: -code for pid, code in ended.items() if code < 0}
            _stop_live(_pool_processes(pool), ended)
            blamed = {running[pid]: signum for pid, signum in dead.items()
                      if running.get(pid, -1) >= 0}  # fmt: skip
            if not blamed:
                self._unexplained += 1
                if self._unexplained >= _MAX_UNEXPLAINED_BREAKS:  # dies whatever runs
                    blamed = {task: 0 for task in self._tasks}
            for number in sorted(self._tasks):
                task = self._tasks[number]
                if task.done():
                    continue
                inner = task.inner
                finished = inner is not None and inner.done() and not inner.cancelled()
                if finished and not isinstance(cast(Future, inner).exception(), BrokenProcessPool):
                    continue  # finished; its own callback reports it
                if number in blamed:
                    del self._tasks[number]
                    how = f"killed by {_signal_name(blamed[number])}" if blamed[number] else ""
                    if task.set_running_or_notify_cancel():
                        task.set_exception(WorkerDied(how))
                elif not self._shutdown:
                    self._start(task)
                else:
                    del self._tasks[number]
                    super(_Task, task).cancel()
        teardown = threading.Thread(target=_shutdown, args=(pool,), daemon=True)
        teardown.start()
        self._teardowns = [t for t in self._teardowns if t.is_alive()] + [teardown]

    def _settle(self) -> None:
        """Once shut down: wait for the broken rounds' teardowns, then free every
        round's queues. They sit in reference cycles, and their semaphores are known
        to multiprocessing's resource tracker: a process that ends by ``os._exit``
        (kquant's command line does) before a garbage collection would leave them to
        the tracker, which warns about leaked semaphores on stderr."""
        import gc

        for teardown in self._teardowns:
            teardown.join(timeout=5)
        gc.collect()


def _ended(processes: dict[int, Any]) -> dict[int, int]:
    """The exit codes of those of ``processes`` (by pid) that have ended. Only those
    are waited for: the others are stopped (:func:`_stop_live`)."""
    from multiprocessing.connection import wait

    sentinels = {}
    for pid, process in processes.items():
        with contextlib.suppress(ValueError):  # closed, or never started
            sentinels[process.sentinel] = pid
    codes = {}
    for sentinel in wait(list(sentinels), timeout=0):
        process = processes[sentinels[sentinel]]
        with contextlib.suppress(Exception):
            process.join(timeout=1)  # ended: its exit code is at most moments away
        if process.exitcode is not None:
            codes[sentinels[sentinel]] = process.exitcode
    return codes


def _stop_live(processes: dict[int, Any], ended: dict[int, int], timeout: float = 5) -> None:
    """SIGTERM to the workers of a broken round still at work, then wait (up to
    ``timeout`` seconds) until they have ended: a worker left running would finish an
    image that the next round does again (its result is lost with its round), and
    the next round would find that output already there."""
    import time
    from multiprocessing.connection import wait

    pending = []
    for pid, process in processes.items():
        if pid in ended:
            continue
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ValueError):
            pending.append(process.sentinel)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        ready = wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        pending = [sentinel for sentinel in pending if sentinel not in ready]


def _shutdown(pool: ProcessPoolExecutor, wait: bool = True, cancel_futures: bool = True) -> None:
    """Shut ``pool`` down. A pool that broke meanwhile may have closed its queues
    itself (CPython 3.11 then fails closing them again, EBADF): nothing is left to
    do then."""
    with contextlib.suppress(OSError):
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)
