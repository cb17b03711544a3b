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
- Workers are spawned (no fork of a threaded parent), run one BLAS/OpenMP thread
  each, and end when the parent dies, even by SIGKILL (Linux ``prctl``).

Everything here is generic: it runs any picklable module-level function.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
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
_slots: Any = None  # shared array: for each worker slot, its pid and the task it runs
_slot = -1
_in_task = False
_interrupted = False


class _Interrupt(BaseException):
    """Raised inside a worker's task by SIGINT/SIGTERM; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _worker_init(slots: Any, parent: int, sigint_ignored: bool = False) -> None:
    """Initializer of a worker process.

    - Takes a slot in ``slots`` (two ints per worker: its pid, and the id of the task
      it is running or -1), so the parent can tell which task a dead worker had. A
      pool's workers are started one after another, so their process numbers are
      consecutive and distinct modulo the number of slots (no lock needed).
    - SIGINT: the task in hand stops (:class:`TaskInterrupted`); no other task
      starts in this worker; an idle worker just notes it. Unless the parent ignores
      SIGINT (``sigint_ignored``: started in the background by a shell script, or
      under ``nohup``-like wrappers): then its workers ignore it too, as the run does.
    - SIGTERM (the parent died, the pool is torn down, someone kills the worker):
      the task in hand stops the same way and the worker exits at once, 128 + 15.
    - Asks the kernel for SIGTERM when the parent dies.
    """

    global _slots, _slot
    _slots = slots
    _slot = _worker_number() % (len(slots) // 2)
    _slots[2 * _slot], _slots[2 * _slot + 1] = os.getpid(), -1

    def on_signal(signum, frame):
        global _interrupted
        _interrupted = True
        if _in_task:
            raise _Interrupt(signum)
        if signum == signal.SIGTERM:
            os._exit(128 + signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN if sigint_ignored else on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers end when their queue closes
        pass
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(128 + signal.SIGTERM)


def _run_task(task: int, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """Run ``fn`` in a worker, recording ``task`` in the worker's slot meanwhile."""
    global _in_task
    if _interrupted:
        raise TaskInterrupted()
    try:  # the signal may come at any point, also while the slot is being cleared
        try:
            _slots[2 * _slot + 1] = task
            _in_task = True
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
    """``max_workers`` spawned worker processes; see the module's docstring.

    Examples
    --------
    >>> with WorkerPool(2) as pool:
    ...     print(pool.submit(pow, 2, 10).result())
    1024
    """

    def __init__(self, max_workers: int) -> None:
        import multiprocessing

        # One core's worth of BLAS/OpenMP threads per worker, set before they start.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
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

    def interrupt(self) -> None:
        """Stop: cancel the tasks not started, send SIGINT to every worker (tasks in
        hand fail with :class:`TaskInterrupted`, having cleaned up), and wait for the
        workers to end."""
        with self._lock:
            self._shutdown = True
            for task in list(self._tasks.values()):
                task.cancel()
            inner, processes = self._inner, dict(self._processes)
            ready = set(self._slots[0::2]) if self._slots is not None else set()
        for pid in processes:
            # a worker still starting has no handler yet: SIGINT would print its
            # traceback; it has no task either, so it just ends
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGINT if pid in ready else signal.SIGTERM)
        if inner is not None:
            _shutdown(inner)

    # -- inside

    def _pool(self) -> ProcessPoolExecutor:
        """The current round's process pool, started on first use."""
        if self._inner is None:
            self._slots = self._context.Array("q", 2 * self._max_workers, lock=False)
            self._inner = ProcessPoolExecutor(
                max_workers=self._max_workers,
                mp_context=self._context,
                initializer=_worker_init,
                initargs=(self._slots, os.getpid(), _ignored(signal.SIGINT)),
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
            dead = {}
            for pid, process in processes.items():
                with contextlib.suppress(Exception):
                    process.join(timeout=1)
                if process.exitcode is not None and process.exitcode < 0:
                    dead[pid] = -process.exitcode
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
        threading.Thread(target=_shutdown, args=(pool,), daemon=True).start()


def _shutdown(pool: ProcessPoolExecutor, wait: bool = True, cancel_futures: bool = True) -> None:
    """Shut ``pool`` down. A pool that broke meanwhile may have closed its queues
    itself (CPython 3.11 then fails closing them again, EBADF): nothing is left to
    do then."""
    with contextlib.suppress(OSError):
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)
