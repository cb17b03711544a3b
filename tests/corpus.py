"""Pillow's own test images (``Tests/images`` of the Pillow source distribution: every
mode, format and broken file Pillow has had to handle) as a corpus for kquant.

As a module: :func:`corpus_folder` finds the cached corpus (or None), :func:`fetch`
downloads and unpacks it. As a script, run by ``tests/test_corpus.py`` in a child
process under a memory limit:

    python tests/corpus.py fetch                  # into the cache, prints the folder
    python tests/corpus.py each OUT.jsonl LIST    # one in-process kquant call per case

``each`` runs ``kquant`` in this process (click's ``CliRunner``, as a user would run
it) once per file and command (:func:`cases`) for the files of LIST (a JSON object:
``files``, and ``failed``, those a batch reported as errors), with the C-level stderr
(libtiff's messages) captured too, and writes one JSON line per call: exit code,
stderr, seconds, peak memory, and the traceback if one escaped.

The cache is ``$KQUANT_CORPUS_CACHE`` or ``~/.cache/kquant-tests``; the corpus is the
source distribution of the installed Pillow, so its decoders and its test files match.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

#: Memory each corpus process may use (address space).
MEMORY_LIMIT = 2 << 30
#: Seconds one file may take.
SECONDS_PER_FILE = 60


def cache_root() -> Path:
    return Path(os.environ.get("KQUANT_CORPUS_CACHE") or Path.home() / ".cache" / "kquant-tests")


def _pillow_version() -> str:
    import PIL

    return PIL.__version__


def corpus_folder() -> Path | None:
    """The cached ``Tests/images`` of the installed Pillow's sources, or None."""
    folder = cache_root() / f"pillow-{_pillow_version()}" / "Tests" / "images"
    return folder if folder.is_dir() else None


def fetch() -> Path:
    """Download the installed Pillow's source distribution from PyPI (pip) and unpack
    its ``Tests/images`` into the cache; the folder."""
    found = corpus_folder()
    if found is not None:
        return found
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    version = _pillow_version()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"pillow=={version}", "--no-binary",
             ":all:", "--no-deps", "-q", "-d", tmp],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        archive = next(Path(tmp).glob("pillow-*.tar.gz"))
        prefix = f"{archive.name.removesuffix('.tar.gz')}/Tests/images/"
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            unpack = Path(tmp) / "unpacked"
            tar.extractall(unpack, members=members, filter="data")
        (unpack / archive.name.removesuffix(".tar.gz")).rename(root / f"pillow-{version}")
    found = corpus_folder()
    assert found is not None
    return found


def limit_memory() -> None:
    """For ``preexec_fn``: cap the child's address space at :data:`MEMORY_LIMIT`."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cases(path: Path, *, animated: bool, failed: bool) -> list[list[str]]:
    """The command lines run on one file (``{out}`` stands for a fresh folder): a
    compress to PNG (the default: dithered); for an animation, to GIF and WebP too
    (undithered: these try the writers, and dithering a.fli's 384 frames again would
    cost 20 s), and its palette (fitted on every frame); for a file that failed, the
    other commands too."""
    run = [["compress", str(path), "-k", "16", "-o", "{out}/x.png"]]
    if animated:
        plain = ["--dither", "none"]
        run += [["compress", str(path), "-k", "16", "-o", "{out}/x.gif", *plain],
                ["compress", str(path), "-k", "16", "-o", "{out}/x.webp", *plain]]  # fmt: skip
    if animated or failed:
        run.append(["palette", str(path), "-k", "4"])
    if failed:
        run += [["compare", str(path), "-k", "4"],
                ["sweep", str(path), "-k", "2,4", "--metric-sample", "200"]]  # fmt: skip
    return run


def _each(report: Path, files: list[str], failed: set[str]) -> None:
    from click.testing import CliRunner

    from kquant.cli import cli

    runner = CliRunner()
    with open(report, "w") as out, tempfile.TemporaryDirectory() as scratch:
        for name in files:
            path = Path(name)
            animated = _animated(path)
            for i, case in enumerate(cases(path, animated=animated, failed=name in failed)):
                folder = Path(scratch) / f"{abs(hash(name))}-{i}"
                folder.mkdir()
                args = [a.replace("{out}", str(folder)) for a in case]
                with tempfile.TemporaryFile() as c_stderr:
                    saved = os.dup(2)
                    os.dup2(c_stderr.fileno(), 2)
                    start = time.perf_counter()
                    try:
                        result = runner.invoke(cli, args, catch_exceptions=True)
                    finally:
                        seconds = time.perf_counter() - start
                        os.dup2(saved, 2)
                        os.close(saved)
                    c_stderr.seek(0)
                    chatter = c_stderr.read().decode("utf-8", "replace")
                crashed = result.exception is not None and not isinstance(
                    result.exception, SystemExit
                )
                row = {
                    "file": name,
                    "args": case,
                    "exit": result.exit_code,
                    "stderr": result.stderr,
                    "c_stderr": chatter,
                    "seconds": round(seconds, 3),
                    "traceback": "".join(traceback.format_exception(result.exception))
                    if crashed
                    else None,
                    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                    "outputs": sorted(p.name for p in folder.iterdir()),
                }
                out.write(json.dumps(row) + "\n")
                out.flush()


def _animated(path: Path) -> bool:
    """Whether Pillow sees more than one frame (its warnings, log and errors ignored)."""
    import logging
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.CRITICAL)
        try:
            with Image.open(path) as im:
                return getattr(im, "n_frames", 1) > 1
        except Exception:
            return False
        finally:
            logging.disable(logging.NOTSET)


if __name__ == "__main__":
    if sys.argv[1] == "fetch":
        print(fetch())
    elif sys.argv[1] == "each":
        listing = json.loads(Path(sys.argv[3]).read_text())
        _each(Path(sys.argv[2]), listing["files"], set(listing["failed"]))
