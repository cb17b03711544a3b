"""Batches on a real Dask cluster (issue 14, first part): a scheduler and workers on
127.0.0.1 (in threads for most tests, as processes where one is killed), and the real
``kquant`` command sent to it."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import blocks, kquant, kquant_exe, run_kquant
from PIL import Image

if importlib.util.find_spec("distributed") is None:
    pytest.skip("needs dask[distributed]", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster():
    """The address of a LocalCluster on 127.0.0.1 for this module: its scheduler and
    two workers run in this process's threads and talk TCP, as kquant does to them
    (worker processes cost about 2.5 s of CPU each to start; the tests that kill a
    worker or the scheduler start real ``dask`` processes)."""
    import distributed

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
        dashboard_address=":0", silence_logs=50,
    ) as local:  # fmt: skip
        yield local.scheduler_address


def _folder(root, n=4, size=40):
    root.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            root / f"{i}.png"
        )
    return root


def test_a_cluster_run_matches_a_local_one(tmp_path, cluster):
    src = _folder(tmp_path / "in")
    (src / "broken.png").write_bytes(b"not an image")
    runs = {}
    for name, extra in (("local", ["-j", "1"]), ("cluster", ["--cluster", cluster])):
        out, report = tmp_path / name, tmp_path / f"{name}.jsonl"
        proc = kquant("compress", src, "-k", "16", "-o", out, "--report", report, *extra)
        assert proc.returncode == 1, proc.stderr  # broken.png
        assert proc.stderr.count("kquant: error:") == 1 and "Traceback" not in proc.stderr
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        runs[name] = (
            {p.name: p.read_bytes() for p in sorted(out.iterdir())},
            [(r["input"], r["status"], r["mse"], r["output"] and r["output"].rsplit("/", 1)[-1])
             for r in rows],
        )  # fmt: skip
    assert len(runs["local"][0]) == 4
    assert runs["cluster"] == runs["local"]


def test_skip_existing_and_the_env_variable(tmp_path, cluster):
    src = _folder(tmp_path / "in", n=2)
    out = tmp_path / "out"
    env = {"KQUANT_CLUSTER": cluster}
    first = kquant("compress", src, "-k", "8", "-o", out, env=env)
    assert first.returncode == 0 and "2 ok" in first.stderr, first.stderr
    again = kquant("compress", src, "-k", "8", "-o", out, "--skip-existing", env=env)
    assert again.returncode == 0 and "0 ok, 2 skipped" in again.stderr


def test_an_unreachable_scheduler_and_stdin_are_one_line(tmp_path):
    Image.fromarray(blocks(16, 16)).save(tmp_path / "x.png")
    proc = run_kquant("compress", tmp_path / "x.png", "-o", tmp_path / "o.png", "--cluster",
                      "tcp://127.0.0.1:9", timeout=60)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "cannot reach a Dask scheduler at tcp://127.0.0.1:9: connection refused" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()
    stdin = run_kquant("compress", "-", "-o", tmp_path / "o.png", "--cluster",
                       "tcp://127.0.0.1:9", input="", timeout=60)  # fmt: skip
    assert stdin.returncode == 2 and "not - (standard input/output)" in stdin.stderr
    assert len(stdin.stderr.strip().splitlines()) == 1


def test_ctrl_c_leaves_no_temporary_files(tmp_path, cluster):
    """Ctrl-C while the workers hold the tasks: exit 130, and once the tasks that
    were running end on their workers, no temporary file."""
    src = _folder(tmp_path / "in", n=4, size=150)
    out = tmp_path / "out"
    from distributed import Client

    with Client(cluster, set_as_default=False) as client:
        proc = _compress_on(src, out, cluster)
        _busy_worker(client, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        deadline = time.monotonic() + 30  # tasks already running finish, atomically
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.05)
    leftovers = [p.name for p in out.rglob("*") if "kquant-tmp" in p.name] if out.exists() else []
    assert leftovers == [] and "Traceback" not in err


def _compress_on(src, out, cluster):
    """kquant compressing ``src`` into ``out`` on ``cluster``, running."""
    command = [kquant_exe(), "compress", str(src), "-k", "32", "--n-init", "2", "-o", str(out),
               "--cluster", cluster]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _busy_worker(client, proc):
    """The address of a worker that holds one of ``proc``'s tasks, once one does."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        busy = [worker for worker, tasks in client.processing().items() if tasks]
        if busy:
            return busy[0]
        time.sleep(0.01)
    raise AssertionError(f"no task reached a worker: {proc.communicate()}")


def test_a_worker_killed_mid_batch_loses_no_file(tmp_path):
    """Dask gives the tasks of a killed worker process to another (here the one its
    nanny starts again): every image is still written."""
    src = _folder(tmp_path / "in", n=4, size=150)
    out = tmp_path / "out"
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=50) as local:  # fmt: skip
        with Client(local.scheduler_address, set_as_default=False) as client:
            pids = client.run(os.getpid)
            proc = _compress_on(src, out, local.scheduler_address)
            os.kill(pids[_busy_worker(client, proc)], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == [f"{i}-k32.png" for i in range(4)]


class _Listener:
    """A TCP listener on 127.0.0.1 in a thread that is not a Dask scheduler: ``silent``
    accepts and never writes, ``closing`` accepts and closes, ``noise`` sends random
    bytes; ``http`` is Python's HTTP server."""

    def __init__(self, kind, folder):
        self.kind, self.stop, self.held = kind, threading.Event(), []
        if kind == "http":

            class Quiet(http.server.SimpleHTTPRequestHandler):
                def log_message(self, *args):
                    pass

            handler = lambda *a: Quiet(*a, directory=str(folder))  # noqa: E731
            self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            self.port = self.server.server_address[1]
            self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        else:
            self.server = socket.create_server(("127.0.0.1", 0))
            self.server.settimeout(0.1)
            self.port = self.server.getsockname()[1]
            self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            if self.kind == "closing":
                conn.close()
                continue
            self.held.append(conn)
            if self.kind == "noise":
                with contextlib.suppress(OSError):
                    conn.sendall(np.random.default_rng(len(self.held)).bytes(4096))

    def close(self):
        if self.kind == "http":
            self.server.shutdown()
        self.stop.set()
        self.thread.join(5)
        self.server.server_close() if self.kind == "http" else self.server.close()
        for conn in self.held:
            conn.close()


def test_an_address_that_is_not_a_scheduler_is_one_line_within_the_timeout(tmp_path):
    """Issue 21: whatever answers (or not) at the address, one line naming it and
    why, exit 1, within the 5 s connection timeout."""
    Image.fromarray(blocks(16, 16)).save(tmp_path / "x.png")
    reasons = {
        "http": "an HTTP server answers there",
        "silent": "no answer within 5 s",
        "closing": "the connection was closed",
        "noise": "does not speak Dask's protocol",
    }
    for kind, reason in reasons.items():
        listener = _Listener(kind, tmp_path)
        try:
            address = f"tcp://127.0.0.1:{listener.port}"
            start = time.monotonic()
            ran = kquant("compress", tmp_path / "x.png", "-o", tmp_path / f"{kind}.png",
                         "--cluster", address)  # fmt: skip
            seconds = time.monotonic() - start
        finally:
            listener.close()
        assert ran.returncode == 1, (kind, ran.stderr)
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in ran.stderr, (kind, ran.stderr)
        assert f"cannot reach a Dask scheduler at {address}: " in lines[0], (kind, lines)
        assert reason in lines[0], (kind, lines)
        assert seconds < 15, (kind, seconds)
        assert not (tmp_path / f"{kind}.png").exists()


@contextlib.contextmanager
def _process_group(command, log):
    """``command`` running in a session of its own (it and its children are killed
    with SIGKILL on the way out), its output in ``log``."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _files(folder):
    """Names and modification times of the files in ``folder``; listed again if a
    file goes while it is listed (a temporary file renamed to its output)."""
    while True:
        try:
            return (
                {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.exists() else {}
            )
        except FileNotFoundError:
            continue


def test_a_scheduler_killed_mid_batch_leaves_a_row_for_every_image(tmp_path):
    """Issue 21: SIGKILL to the scheduler of a 16-image batch. Every image gets one
    row, the summary closes the run (exit 1), and kquant waits for the workers'
    last tasks: nothing is written after it exits, and every output has an "ok" row
    (the images finished after the loss have no measurements)."""
    src = _folder(tmp_path / "in", n=16, size=100)
    out, report, state = tmp_path / "out", tmp_path / "r.jsonl", tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    scheduler = _process_group([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                "--no-dashboard", "--scheduler-file", str(state)],
                               tmp_path / "scheduler.log")  # fmt: skip
    workers = _process_group([*dask, "worker", "--scheduler-file", str(state), "--nworkers", "1",
                              "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                              "--local-directory", str(tmp_path / "dask")],
                             tmp_path / "workers.log")  # fmt: skip
    with scheduler as scheduler_proc, workers:
        deadline = time.monotonic() + 30
        while not (state.exists() and state.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        address = json.loads(state.read_text())["address"]
        command = [kquant_exe(), "compress", str(src), "-k", "32", "--n-init", "2", "-o",
                   str(out), "--report", str(report), "--cluster", address]  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while len(_files(out)) < 2 and proc.poll() is None and time.monotonic() < deadline + 60:
                time.sleep(0.05)
            scheduler_proc.kill()  # SIGKILL
            _, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        written = _files(out)
        time.sleep(0.5)  # a task takes about 0.1 s here: one still running would show by now
        assert _files(out) == written  # nothing new, nothing changed
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "distributed." not in err, err
    assert len(written) < 16, "the batch was over before the scheduler was killed"
    assert "kquant: " in err and " failed; " in err.strip().splitlines()[-1], err
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(row["input"] for row in rows) == sorted(str(p) for p in src.iterdir())
    ok = {Path(row["input"]).stem for row in rows if row["status"] == "ok"}
    assert {name.split("-")[0] for name in written} == ok
    lost = [row for row in rows if row["status"] != "ok"]
    assert lost and all("the Dask scheduler was lost" in row["error"] for row in lost), lost
    assert all(row["error"].endswith("no output was written") for row in lost)
