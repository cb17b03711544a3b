"""Batches on a real Dask cluster (issue 14, first part): a scheduler and two worker
processes on 127.0.0.1, and the real ``kquant`` command sent to it."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest
from helpers import blocks, kquant_exe, run_kquant
from PIL import Image

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """The address of a two-worker LocalCluster on 127.0.0.1, for this module."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, silence_logs=50,
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
        proc = run_kquant("compress", src, "-k", "16", "-o", out, "--report", report, *extra)
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
    import os

    env = os.environ | env
    first = run_kquant("compress", src, "-k", "8", "-o", out, env=env)
    assert first.returncode == 0 and "2 ok" in first.stderr, first.stderr
    again = run_kquant("compress", src, "-k", "8", "-o", out, "--skip-existing", env=env)
    assert again.returncode == 0 and "0 ok, 2 skipped" in again.stderr


def test_an_unreachable_scheduler_and_stdin_are_one_line(tmp_path):
    Image.fromarray(blocks(16, 16)).save(tmp_path / "x.png")
    proc = run_kquant("compress", tmp_path / "x.png", "-o", tmp_path / "o.png", "--cluster",
                      "tcp://127.0.0.1:9", timeout=60)  # fmt: skip
    assert proc.returncode == 1 and "cannot reach the Dask scheduler" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_ctrl_c_leaves_no_temporary_files(tmp_path, cluster):
    src = _folder(tmp_path / "in", n=4, size=150)
    out = tmp_path / "out"
    proc = subprocess.Popen([kquant_exe(), "compress", str(src), "-k", "128", "--n-init", "8",
                             "-o", str(out), "--cluster", cluster],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(2.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), err
    time.sleep(1.5)  # jobs already running finish on their workers, atomically
    leftovers = [p.name for p in out.rglob("*") if "kquant-tmp" in p.name] if out.exists() else []
    assert leftovers == [] and "Traceback" not in err


def test_a_worker_killed_mid_batch_loses_no_file(tmp_path, cluster):
    """Dask gives the task of a killed worker to another (its nanny restarts the
    worker): every image is still written."""
    import os

    src = _folder(tmp_path / "in", n=4, size=150)
    out = tmp_path / "out"
    proc = subprocess.Popen([kquant_exe(), "compress", str(src), "-k", "128", "--n-init", "8",
                             "-o", str(out), "--cluster", cluster],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    with distributed.Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        time.sleep(2)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == [f"{i}-k128.png" for i in range(4)]
