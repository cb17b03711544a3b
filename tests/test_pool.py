"""kquant.pool.WorkerPool: the local executor that outlives its workers."""

import pytest
from helpers import echo_or_die

from kquant.pool import WorkerDied, WorkerPool


def test_a_dead_worker_costs_only_its_task():
    with WorkerPool(2) as pool:
        futures = [pool.submit(echo_or_die, v) for v in ["a", "b", "die", "c", "d", "e"]]
        with pytest.raises(WorkerDied, match="killed by SIGKILL"):
            futures[2].result(timeout=60)
        assert [f.result(timeout=60) for i, f in enumerate(futures) if i != 2] == list("abcde")
        assert pool.submit(echo_or_die, "after").result(timeout=60) == "after"


def test_interrupt_cancels_what_has_not_started():
    pool = WorkerPool(1)
    futures = [pool.submit(echo_or_die, str(i)) for i in range(50)]
    pool.interrupt()
    assert all(f.done() for f in futures)
    assert any(f.cancelled() for f in futures)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(echo_or_die, "late")
