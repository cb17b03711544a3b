"""Many inputs: finding the images, naming the outputs, recording what happened.

All of it is planned before any image is touched, so a mistake in the command
(a missing input, a glob that matches nothing, two inputs that would write the same
output) costs nothing and changes nothing.

- :func:`expand_inputs` turns command-line paths into image files: files as named,
  folders (their images, or every image below them with ``recursive``), and glob
  patterns the shell did not expand (``*``, ``?``, ``[...]``, ``**``).
- :func:`plan_jobs` gives each image its output path: beside the input, or under an
  output folder mirroring the input tree, named by a template.
- :class:`ReportWriter` writes one CSV or JSON-lines row per input as it finishes.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kquant.defaults import DEFAULT_TEMPLATE, STDIO
from kquant.errors import UsageError
from kquant.report import Report, flat_row, report_row, row_columns
from kquant.settings import CompressSettings
from kquant.stages import Stage

__all__ = [
    "IMAGE_SUFFIXES",
    "Item",
    "Job",
    "JobResult",
    "ReportWriter",
    "expand_inputs",
    "plan_jobs",
    "run_job",
    "worker_init",
]

#: Suffixes taken as images when walking folders (explicitly named files are always
#: tried, whatever their suffix).
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".dib"}
)

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Item:
    """One input image.

    Attributes
    ----------
    path : Path
        The file.
    relative : Path
        Its path below the folder it was found in (just its name for files named
        directly or matched by a glob); outputs mirror it.
    """

    path: Path
    relative: Path


@dataclass(frozen=True)
class Job:
    """One input and the output it will be written to."""

    input: Path
    output: Path


@dataclass
class Expanded:
    """What :func:`expand_inputs` found: images; files passed over, with why (not an
    image file name, or excluded by a pattern); and whether the inputs name a batch
    (a folder, a glob, or more than one file) rather than one file."""

    items: list[Item] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    batch: bool = False


def _wanted(relative: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    names = (relative.as_posix(), relative.name)
    if include and not any(fnmatch.fnmatch(n, pat) for pat in include for n in names):
        return False
    return not any(fnmatch.fnmatch(n, pat) for pat in exclude for n in names)


def expand_inputs(
    paths: list[str | os.PathLike[str]],
    *,
    recursive: bool = False,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> Expanded:
    """Image files named by ``paths``, in a stable order (as given; folders and globs
    sorted), each once.

    ``include`` / ``exclude`` are shell patterns matched against a file's name and
    its path below its folder (``*.png``, ``raw/*``); they apply to files found in
    folders and by globs, not to files named explicitly.

    Raises
    ------
    UsageError
        A path that does not exist, or a glob that matches nothing.
    """
    out = Expanded(batch=len(paths) > 1)
    seen: set[Path] = set()
    if STDIO in [str(p) for p in paths]:
        if len(paths) > 1:
            raise UsageError("'-' (standard input) cannot be mixed with other inputs")
        out.items.append(Item(Path(STDIO), Path(STDIO)))
        return out

    def add(path: Path, relative: Path, *, explicit: bool) -> None:
        key = path.resolve()
        if key in seen:
            return
        if not explicit and path.suffix.lower() not in IMAGE_SUFFIXES:
            out.skipped.append((path, "not an image file name"))
            return
        if not explicit and not _wanted(relative, include, exclude):
            out.skipped.append((path, "left out by the include/exclude patterns"))
            return
        seen.add(key)
        out.items.append(Item(path, relative))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.batch = True
            found = path.rglob("*") if recursive else path.iterdir()
            for f in sorted(p for p in found if p.is_file()):
                add(f, f.relative_to(path), explicit=False)
        elif path.exists():
            add(path, Path(path.name), explicit=True)
        elif _GLOB_CHARS & set(str(raw)):
            out.batch = True
            matches = sorted(glob.glob(str(raw), recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise UsageError(f"{raw}: no file matches this pattern")
            for f in files:
                add(f, Path(f.name), explicit=False)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    return out


def plan_jobs(
    items: list[Item],
    *,
    output: Path | None,
    batch: bool,
    k: int,
    method: str,
    template: str = DEFAULT_TEMPLATE,
) -> list[Job]:
    """The output path of every input.

    Without ``output``, each output goes beside its input. With ``output`` and a
    batch, ``output`` is a folder and the outputs mirror the inputs' relative
    paths under it. With ``output`` and a single input, ``output`` is the file
    (or, if it is an existing folder, the folder to write into).

    Raises
    ------
    UsageError
        A bad template, or two inputs that would write the same file, or an output
        that is one of the inputs of the batch.
    """
    stdout = output is not None and str(output) == STDIO
    if stdout and batch:
        raise UsageError("-o - (standard output) takes a single input")
    if items and str(items[0].path) == STDIO and output is None:
        raise UsageError("an image read from standard input needs -o FILE or -o -")
    into_folder = output is not None and not stdout and (batch or output.is_dir())
    jobs = []
    for item in items:
        if output is not None and not into_folder:
            jobs.append(Job(item.path, output))
            continue
        name = _render(template, item.path, k=k, method=method)
        folder = output / item.relative.parent if into_folder else item.path.parent
        jobs.append(Job(item.path, folder / name))
    _check_collisions(jobs)
    return jobs


def _render(template: str, path: Path, *, k: int, method: str) -> str:
    try:
        name = template.format(
            stem=path.stem, ext=path.suffix.lower().lstrip("."), k=k, method=method
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            f"bad name template {template!r} ({exc}); use {{stem}}, {{ext}}, {{k}}, {{method}}",
            params=("template",),
        ) from None
    if not name or "/" in name or os.sep in name:
        raise UsageError(
            f"name template {template!r} must give a file name, got {name!r}",
            params=("template",),
        )
    return name


def _check_collisions(jobs: list[Job]) -> None:
    if len(jobs) == 1:
        return
    inputs = {job.input.resolve(): job.input for job in jobs}
    owner: dict[Path, Path] = {}
    for job in jobs:
        key = job.output.resolve()
        if key in owner:
            raise UsageError(
                f"{owner[key]} and {job.input} would both be written to {job.output}; "
                "use a name template with more of the input name, or separate runs"
            )
        owner[key] = job.input
        if key in inputs:
            raise UsageError(
                f"{job.input} would be written over {inputs[key]}, an input of this run"
            )


class ReportWriter:
    """Rows of a run's report, written and flushed as each input finishes, so an
    interrupted run still leaves the rows of what was done.

    The format follows the suffix: ``.csv`` (columns :func:`kquant.report.row_columns`,
    rows :func:`kquant.report.flat_row`) or ``.jsonl`` / ``.json`` (one JSON object per
    line, as ``--json`` prints it: ``seconds`` an object, ``notes`` a list).
    """

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".jsonl", ".json"):
            raise UsageError(f"{path}: report must end in .csv or .jsonl", params=("report",))
        self.path = path
        self.csv = suffix == ".csv"
        try:
            self._fh: IO[str] = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(
                f"{path}: cannot write the report: {exc.strerror}", params=("report",)
            ) from None
        self._writer = csv.DictWriter(self._fh, row_columns()) if self.csv else None
        if self._writer:
            self._writer.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        """Write one :func:`kquant.report.report_row`."""
        if self._writer is not None:
            self._writer.writerow(flat_row(row))
        else:
            self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


#: Set in a worker process once it has been interrupted: it then starts no new job.
_interrupted = False


def worker_init() -> None:
    """Initializer of worker processes: on SIGINT, stop the current job (its
    temporary file is removed on the way out) and start no other."""
    import signal

    def interrupt(signum, frame):
        global _interrupted
        _interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)


@dataclass(frozen=True)
class JobResult:
    """What became of one job.

    Attributes
    ----------
    job : Job
    status : {"ok", "skipped", "error", "interrupted"}
        ``interrupted``: the job was not done (its worker was interrupted).
    report : Report or None
        The compress report (also for ``skipped`` by ``skip_if_larger``).
    error : str or None
        One-line message: the error, or why the job was skipped.
    error_type : str or None
        Class name of the error, for a front end's advice.
    usage : bool
        The error is a misuse (:class:`kquant.errors.UsageError`).
    """

    job: Job
    status: str
    report: Report | None = None
    error: str | None = None
    error_type: str | None = None
    usage: bool = False

    def row(self) -> dict[str, Any]:
        """The report row (:func:`kquant.report.report_row`)."""
        return report_row(
            self.report,
            input=str(self.job.input) if self.report is None else self.report.input,
            output=str(self.job.output) if self.report is None else self.report.output,
            status=self.status,
            error=self.error,
        )


def run_job(
    job: Job,
    settings: CompressSettings,
    *,
    source: IO[bytes] | None = None,
    target: IO[bytes] | None = None,
    make_folder: bool = False,
    progress: Callable[[Stage], None] | None = None,
) -> JobResult:
    """Compress one job with ``settings`` and catch what can go wrong with it.

    ``source`` / ``target`` replace the job's paths with file objects (stdin,
    stdout). ``make_folder`` creates the output's folder first. Errors that belong
    to the image (bad file, cannot write, out of memory) come back in the result;
    anything else is a bug and propagates. Module-level, so worker processes can run
    it; the in-process path runs it too.
    """
    from kquant.compress import compress_file
    from kquant.errors import KquantError

    if _interrupted:
        return JobResult(job, "interrupted")
    try:
        if make_folder:
            job.output.parent.mkdir(parents=True, exist_ok=True)
        report = compress_file(
            job.input if source is None else source,
            job.output if target is None else target,
            settings,
            progress=progress,
        )
    except (KquantError, MemoryError, OSError) as exc:
        if isinstance(exc, MemoryError):
            message = f"{job.input}: not enough memory"
        elif isinstance(exc, OSError) and not str(exc).startswith(str(job.input)):
            message = f"{job.output}: {exc.strerror or exc}"
        else:
            message = str(exc)
        return JobResult(
            job, "error", error=message, error_type=type(exc).__name__,
            usage=isinstance(exc, UsageError),
        )  # fmt: skip
    if report.written:
        return JobResult(job, "ok", report=report)
    return JobResult(job, "skipped", report=report, error="output not smaller than input")
