"""Helpers shared by the tests: small synthetic images whose right answer is known,
independent readers and measures, and two ways to run the ``kquant`` command: in this
process (:func:`kquant`, through click's ``CliRunner``) and, where the process itself
matters (signals, workers, pipes, terminals, start-up), as a real subprocess
(:func:`run_kquant`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from kquant.cli import cli

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"

#: The four flat colors of :func:`blocks`.
BLOCK_COLORS = np.array([[220, 40, 40], [40, 200, 60], [30, 60, 210], [240, 230, 70]], np.uint8)


def blocks(height: int = 64, width: int = 64, noise: int = 6, seed: int = 0) -> np.ndarray:
    """Four flat quadrants (BLOCK_COLORS) plus seeded uniform noise of +-``noise``.

    Returns (height, width, 3) uint8. k=4 must recover the four colors within about
    the noise's mean (0).
    """
    img = np.empty((height, width, 3), np.int16)
    h2, w2 = height // 2, width // 2
    img[:h2, :w2] = BLOCK_COLORS[0]
    img[:h2, w2:] = BLOCK_COLORS[1]
    img[h2:, :w2] = BLOCK_COLORS[2]
    img[h2:, w2:] = BLOCK_COLORS[3]
    rng = np.random.default_rng(seed)
    img += rng.integers(-noise, noise + 1, size=img.shape).astype(np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def read_rgba(path: Path) -> np.ndarray:
    """A written image as (H, W, 4) uint8, decoded independently of kquant."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def mse_rgb(a: np.ndarray, b: np.ndarray, visible: np.ndarray | None = None) -> float:
    """Reference MSE over the RGB channels (float64, no tricks)."""
    d = a[..., :3].astype(np.float64) - b[..., :3].astype(np.float64)
    if visible is not None:
        d = d[visible]
    return float(np.mean(d * d))


@dataclass(frozen=True)
class Ran:
    """What a run of ``kquant`` did: like :class:`subprocess.CompletedProcess`."""

    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""


def kquant(
    *args: str | os.PathLike[str], input: bytes | str | None = None, env: dict | None = None
) -> Ran:
    """Run the ``kquant`` command line in this process (``CliRunner``), as a user
    would run it: same one-line errors, same exit codes (only the final ``os._exit``
    of :func:`kquant.cli.main` is left out). Exceptions the command does not turn
    into an error line propagate, so a traceback fails the test."""
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env,
                                catch_exceptions=False)  # fmt: skip
    return Ran(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)


def huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG header claiming width x height (1-bit gray) with no real pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 8))
        + chunk(b"IEND", b"")
    )
    return path


def kquant_exe() -> str:
    """The ``kquant`` console script installed beside this Python."""
    exe = shutil.which("kquant", path=str(Path(sys.executable).parent)) or shutil.which("kquant")
    assert exe, "kquant is not installed; run `make test`"
    return exe


def run_kquant(*args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run the installed ``kquant`` with ``args`` and return the completed process."""
    return subprocess.run(
        [kquant_exe(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=kwargs.pop("timeout", 120),
        **kwargs,
    )


def run_kquant_on_terminal(*args: str | os.PathLike[str], timeout: float = 120) -> tuple[int, str]:
    """Run the installed ``kquant`` with stderr on a pseudo-terminal of 100 columns;
    return its exit code and what it wrote to the terminal."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [kquant_exe(), *map(str, args)], stdout=subprocess.DEVNULL, stderr=slave
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=timeout), b"".join(chunks).decode("utf-8", "replace")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, parent, ...), or
    None if the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def live_processes() -> dict[int, int]:
    """Live (not zombie) processes, by pid: their parent's pid (Linux's /proc)."""
    found = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            fields = _stat(entry.name)
            if fields is not None and fields[0] not in "ZX":
                found[int(entry.name)] = int(fields[1])
    return found


def echo_or_die(value: str) -> str:
    """A task for worker pools: returns ``value``, or kills its own process by
    SIGKILL when ``value`` is "die"."""
    import signal

    if value == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def die_after(seconds: float) -> None:
    """A task for worker pools: kills its own process by SIGKILL after ``seconds``."""
    import signal
    import time

    time.sleep(seconds)
    os.kill(os.getpid(), signal.SIGKILL)


def finish_after(path: str, seconds: float) -> str:
    """A task for worker pools: after ``seconds``, appends a line to ``path``."""
    import time

    time.sleep(seconds)
    with open(path, "a") as fh:
        fh.write("done\n")
    return path


def loaded(module: str) -> bool:
    """A task for worker pools: whether ``module`` is imported in the worker."""
    import sys

    return module in sys.modules


def fitting(pid: int) -> bool:
    """Whether process ``pid`` has begun its first fit: kquant imports scikit-learn
    there and nowhere before, so a kquant process (or pool worker) that has
    scikit-learn's libraries mapped is inside an image, for the rest of the import
    (about 0.5 s) and the fit. The event the signal tests wait for instead of a sleep."""
    try:
        return b"/sklearn/" in Path(f"/proc/{pid}/maps").read_bytes()
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used (Linux's /proc), 0 if gone."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(condition, what: str, timeout: float = 60) -> None:
    """Poll ``condition()`` every 10 ms until true; fail naming ``what`` after
    ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def smaller_sample(name: str, folder: Path, factor: int = 2) -> Path:
    """``sample_images/name`` reduced ``factor`` times in each direction (Pillow's
    box ``reduce``), saved under the same name in ``folder``: a real photo at a
    fraction of the cost, for tests whose point is not its size."""
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(SAMPLES / name) as im:
        im.reduce(factor).save(folder / name)
    return folder / name
