"""kquant.run.pool.WorkerPool: the local executor that outlives its workers."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import die_after, echo_or_die, finish_after

from kquant.run.pool import WorkerDied, WorkerPool


def test_a_dead_worker_costs_only_its_task():
    with WorkerPool(2) as pool:
        futures = [pool.submit(echo_or_die, v) for v in ["a", "b", "die", "c", "d", "e"]]
        with pytest.raises(WorkerDied, match="killed by SIGKILL"):
            futures[2].result(timeout=60)
        assert [f.result(timeout=60) for i, f in enumerate(futures) if i != 2] == list("abcde")
        assert pool.submit(echo_or_die, "after").result(timeout=60) == "after"


def test_a_live_worker_does_not_finish_what_the_next_round_does_again(tmp_path):
    """When a worker dies, the others of its round are stopped before the next round
    runs their tasks again (they were waited on for a second, finishing them: an
    image done twice, the second time "already exists")."""
    log = tmp_path / "done.txt"
    with WorkerPool(2) as pool:
        dying = pool.submit(die_after, 0.3)
        slow = pool.submit(finish_after, str(log), 0.8)
        with pytest.raises(WorkerDied):
            dying.result(timeout=60)
        assert slow.result(timeout=60) == str(log)
    assert log.read_text() == "done\n"


def test_workers_start_with_the_imports_of_the_fork_server():
    """The fork server imports ``preload`` once; every worker, also those of the
    round started after a worker dies, starts with it loaded, and the pool's owner
    never imports it. In a process of its own: the fork server is one per process,
    and its imports are those of the first pool."""
    script = """
import sys
from helpers import echo_or_die, loaded
from kquant.run.pool import WorkerPool, WorkerDied

with WorkerPool(2, preload=("xml.dom.minidom",)) as pool:
    first = pool.submit(loaded, "xml.dom.minidom").result(timeout=60)
    assert isinstance(pool.submit(echo_or_die, "die").exception(timeout=60), WorkerDied)
    after = pool.submit(loaded, "xml.dom.minidom").result(timeout=60)
print(first, after, "xml.dom.minidom" in sys.modules)
"""
    ran = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["True", "True", "False"]


def test_interrupt_cancels_what_has_not_started():
    pool = WorkerPool(1)
    futures = [pool.submit(echo_or_die, str(i)) for i in range(50)]
    pool.interrupt()
    assert all(f.done() for f in futures)
    assert any(f.cancelled() for f in futures)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(echo_or_die, "late")


def test_the_private_attributes_still_exist():
    """WorkerPool reads two private attributes of the standard library, in one place
    each (kquant.run.pool._pool_processes, _worker_number). If a Python release renames
    them, this fails loudly instead of a dead worker going unexplained."""
    from concurrent.futures import ProcessPoolExecutor

    from kquant.run.pool import _pool_processes, _worker_number

    with WorkerPool(2) as pool:
        numbers = {pool.submit(_worker_number).result(timeout=60) for _ in range(6)}
        assert numbers and all(isinstance(n, int) and n >= 1 for n in numbers)
    with ProcessPoolExecutor(1) as plain:
        plain.submit(int).result(timeout=60)
        processes = _pool_processes(plain)
        assert len(processes) == 1
        pid, process = next(iter(processes.items()))
        assert isinstance(pid, int) and process.pid == pid and process.exitcode is None
