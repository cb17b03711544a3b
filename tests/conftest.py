"""Fixtures shared by the tests; helper functions are in ``helpers.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

#: One BLAS/OpenMP thread in each test process and in the kquant processes the tests
#: start (set before numpy and scikit-learn load): pytest-xdist runs several
#: processes on few cores, and OpenMP's spinning threads fighting over them cost a
#: sixth of the suite's CPU time. test_dither.py runs kquant with the default too.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
from helpers import blocks, live_processes  # noqa: E402
from PIL import Image  # noqa: E402

#: The suite's kquant processes run in process, whatever server the developer has
#: running: tests/test_server.py starts its own servers, in a runtime directory of
#: this session's (so `kquant server stop --all` there never reaches a real one).
os.environ["KQUANT_SERVER"] = "off"
_RUNTIME = Path(__import__("tempfile").mkdtemp(prefix="kquant-test-runtime-"))
os.environ["XDG_RUNTIME_DIR"] = str(_RUNTIME)
__import__("atexit").register(__import__("shutil").rmtree, _RUNTIME, ignore_errors=True)

#: Marks every process this test session starts (kquant and its workers inherit it),
#: so the session can check at the end that none outlived its run. Set in every
#: pytest process: each xdist worker checks the processes it started.
os.environ["KQUANT_TEST_SESSION"] = str(os.getpid())

#: A shell starts background jobs (``make test &``) with SIGINT ignored, ``nohup``
#: ignores SIGHUP, and an ignored signal stays ignored in every child: the tests of
#: Ctrl-C and SIGHUP would then see kquant run to the end. Each pytest process takes
#: the usual handlers back, so the processes the tests start get the signals'
#: defaults whatever shell ran the suite.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


#: Test files whose tests run first, in one xdist worker: xdist's ``load`` scheduling
#: sends each worker a first chunk of consecutive tests (a quarter of its share), so
#: these land in one worker, which alone imports distributed and starts the module's
#: Dask cluster (about 4 s of CPU for each other worker that would).
FIRST = ("tests/test_cluster.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))  # stable: order kept


def _session_processes() -> list[int]:
    """Live processes that carry this session's mark, other than this one and its own
    multiprocessing helpers: the resource tracker and the fork server that
    in-process runs with workers start, which end with this process."""
    mark = f"\0KQUANT_TEST_SESSION={os.environ['KQUANT_TEST_SESSION']}\0".encode()
    found = []
    for pid, parent in live_processes().items():
        if pid == os.getpid():
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            helper = parent == os.getpid() and (
                b"multiprocessing.resource_tracker" in command
                or b"multiprocessing.forkserver" in command
            )
            if not helper and mark in b"\0" + Path(f"/proc/{pid}/environ").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


@pytest.fixture(scope="session", autouse=True)
def no_kquant_outlives_its_run():
    """After the whole suite, no kquant process or worker started by it is left."""
    yield
    deadline = time.monotonic() + 10
    while _session_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _session_processes()
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in left]
    assert not left, f"processes left running by the tests: {commands}"


@pytest.fixture
def blocks_png(tmp_path: Path) -> Path:
    """A PNG of :func:`helpers.blocks` in a fresh folder."""
    path = tmp_path / "blocks.png"
    Image.fromarray(blocks()).save(path)
    return path


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs, filled; skipped where tmpfs cannot be mounted (not root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        with open(mount / "filler", "wb") as fh:
            for _ in range(64):
                fh.write(b"\0" * 4096)
    except OSError:
        pass
    yield mount
    subprocess.run(["umount", str(mount)], check=True)
