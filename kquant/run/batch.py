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
import dataclasses
import errno
import fnmatch
import glob
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from kquant.defaults import IMAGE_SUFFIXES, STDIO
from kquant.errors import ImageWriteError, OutputExistsError, UsageError
from kquant.io.images import format_for
from kquant.run.naming import OutputName, default_name_stem, default_template, render, uses_k
from kquant.run.report import Report, flat_row, report_row, row_columns
from kquant.settings import CompressSettings
from kquant.stages import Stage

__all__ = [
    "IMAGE_SUFFIXES",
    "WORKER_IMPORTS",
    "Item",
    "Job",
    "JobResult",
    "JobRun",
    "Plan",
    "ReportWriter",
    "expand_inputs",
    "plan_jobs",
    "run_job",
    "run_jobs",
]


_GLOB_CHARS = set("*?[")

#: What :func:`run_job` imports in a worker (scikit-learn's clustering is about a
#: second of it; then Pillow's common formats, as ``Image.preinit`` loads them): a
#: :class:`~kquant.run.pool.WorkerPool`'s fork server imports these once, and its
#: workers start with them loaded.
WORKER_IMPORTS = (
    "kquant.run.batch",
    "kquant.run.compress",
    "kquant.core.codebook",
    "kquant.run.preload",  # scikit-learn's k-means (kquant.core.kmeans)
    *(f"PIL.{name}ImagePlugin" for name in ("Bmp", "Gif", "Jpeg", "Png", "Ppm")),
)


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
    explicit : bool
        Named on the command line (always tried), not found in a folder or by a glob.
    """

    path: Path
    relative: Path
    explicit: bool = False


@dataclass(frozen=True)
class Job:
    """One input and the output it will be written to.

    Attributes
    ----------
    input, output : Path
        ``output`` is the planned path; with ``name`` set, the path at the largest k.
    name : OutputName or None
        Set when the output's name depends on the k a quality target chooses: the
        output is then ``name(k)``, known after the search.
    """

    input: Path
    output: Path
    name: OutputName | None = None

    @property
    def destination(self) -> Path | OutputName:
        """What :func:`kquant.compress_file` gets as its output."""
        return self.output if self.name is None else self.name


@dataclass
class Plan:
    """What :func:`plan_jobs` planned: the jobs, and the inputs passed over because
    they are outputs of this very run (a re-run over a folder), with why."""

    jobs: list[Job]
    ignored: list[tuple[Path, str]] = field(default_factory=list)


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
        out.items.append(Item(Path(STDIO), Path(STDIO), explicit=True))
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
        out.items.append(Item(path, relative, explicit))

    def take(found: list[Path], relative_to: Path | None) -> None:
        for f in sorted(found):
            why = _not_a_file(f)
            if why is not None:
                out.skipped.append((f, why))
            else:
                add(f, f.relative_to(relative_to) if relative_to else Path(f.name), explicit=False)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.batch = True
            take(list(_walk(path, recursive)), path)
        elif path.exists():
            add(path, Path(path.name), explicit=True)
        elif path.is_symlink():
            raise UsageError(f"{raw}: {_not_a_file(path)}")
        elif _GLOB_CHARS & set(str(raw)):
            out.batch = True
            matches = [Path(m) for m in glob.glob(str(raw), recursive=True)]
            found = [m for m in matches if not m.is_dir()]
            if not found:
                raise UsageError(f"{raw}: no file matches this pattern")
            take(found, None)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    return out


def _walk(folder: Path, recursive: bool, seen: set[str] | None = None):
    """Every entry of ``folder`` that is not a folder (and, with ``recursive``, of its
    subfolders; a folder reached twice through symbolic links is walked once)."""
    seen = set() if seen is None else seen
    seen.add(os.path.realpath(folder))
    for entry in folder.iterdir():
        if entry.is_dir():
            if recursive and os.path.realpath(entry) not in seen:
                yield from _walk(entry, recursive, seen)
        else:
            yield entry


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image file, or None for a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return "broken symbolic link" if path.is_symlink() else (exc.strerror or str(exc))
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISFIFO, "named pipe"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"),
             (stat.S_ISSOCK, "socket")]  # fmt: skip
    kind = next((name for test, name in kinds if test(mode)), "special file")
    return f"not a regular file ({kind})"


def plan_jobs(
    items: list[Item],
    *,
    output: Path | None,
    batch: bool,
    k: int,
    method: str,
    template: str | None = None,
    k_chosen_later: bool = False,
    folder: bool = False,
    overwrite: bool = False,
    marks: tuple[str, ...] = (),
) -> Plan:
    """The output path of every input.

    Without ``output``, each output goes beside its input. ``output`` is a folder,
    created as needed, when there are several inputs, when it exists as one, or with
    ``folder`` (the command line's ``-o small/``): the outputs go into it, mirroring
    the inputs' relative paths. Otherwise (one input) it is the file. Default names
    carry ``marks`` (:func:`kquant.run.naming.name_marks`). Names come from
    ``template`` (default: :func:`kquant.run.naming.default_template` of ``method``);
    with ``k_chosen_later`` (a quality target) and ``{k}`` in it, a job's name is
    decided after its search (:attr:`Job.name`).

    An output that is its own input (``--name '{stem}.{ext}'``) is refused unless
    ``overwrite`` (``--force``: replaced in place, atomically, after it is read).

    Inputs found in folders or by globs that are outputs of other inputs of this run
    (what an earlier run of the same command wrote beside its inputs) are not
    taken: they are returned in :attr:`Plan.ignored`, so a command can be run again.

    Raises
    ------
    UsageError
        A bad template; an ``output`` that looks like a file (an image suffix) for a
        batch; two inputs that would write the same file, or an output that is an
        input named on the command line.
    """
    stdout = output is not None and str(output) == STDIO
    if stdout and batch:
        raise UsageError("-o - (standard output) takes a single input")
    if items and str(items[0].path) == STDIO and output is None:
        raise UsageError("an image read from standard input needs -o FILE or -o -")
    if (
        batch
        and output is not None
        and not stdout
        and not output.is_dir()
        and output.suffix.lower() in IMAGE_SUFFIXES
    ):
        raise UsageError(
            f"{output} looks like a file, but several inputs need a folder to write "
            f"into; give a folder (-o {output.with_suffix('')}/) or a single input",
            params=("output",),
        )
    template = template or default_template(method, marks)
    later = k_chosen_later and uses_k(template)
    into_folder = output is not None and not stdout and (batch or folder or output.is_dir())
    jobs = []
    for item in items:
        if output is not None and not into_folder:
            jobs.append(Job(item.path, output))
            continue
        where = cast(Path, output) / item.relative.parent if into_folder else item.path.parent
        name = OutputName(where, template, item.path, method) if later else None
        path = where / render(template, item.path, k=k, method=method)
        jobs.append(Job(item.path, path, name))
    plan = _drop_own_outputs(jobs, items)
    if not stdout:
        for job in plan.jobs:  # a template without a suffix kquant writes: before any work
            try:
                format_for(job.output)
            except UsageError as exc:
                raise UsageError(str(exc), params=() if output and not into_folder
                                 else ("template",)) from None  # fmt: skip
    _check_collisions(plan.jobs, overwrite)
    return plan


def _drop_own_outputs(jobs: list[Job], items: list[Item]) -> Plan:
    """Leave out inputs found in folders or by globs that another input of the run
    writes to, or that carry the default name kquant gives another input beside
    them (``x-k16.png`` beside ``x.jpg``: an earlier run's output), each counted as
    ignored with the input it comes from. Files named on the command line are
    always taken."""
    writer = {job.output.resolve(): job.input for job in jobs}
    stems = {(job.input.parent, job.input.stem): job.input for job in jobs}
    plan = Plan([])
    for job, item in zip(jobs, items, strict=True):
        source = writer.get(job.input.resolve())
        stem = default_name_stem(job.input.name)
        earlier = stem is not None and stems.get((job.input.parent, stem))
        if item.explicit or (source in (None, job.input) and not earlier):
            plan.jobs.append(job)
        elif source not in (None, job.input):
            plan.ignored.append((job.input, f"an output of this run (of {source})"))
        else:
            plan.ignored.append((job.input, f"an earlier output of kquant, from {earlier}"))
    return plan


def _check_collisions(jobs: list[Job], overwrite: bool = False) -> None:
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
        if key in inputs and inputs[key] != job.input:
            raise UsageError(
                f"{job.input} would be written to {job.output}, which is also an input of "
                "this run; leave one of them out, or write elsewhere with -o"
            )
        if key in inputs and not overwrite:
            raise UsageError(f"{job.input} would be written over itself (--force replaces it "
                             "in place); or write elsewhere with -o or --name")  # fmt: skip


class ReportWriter:
    """Rows of a run's report, written and flushed as each input finishes, so an
    interrupted run still leaves the rows of what was done.

    The format follows the suffix: ``.csv`` (columns :func:`kquant.run.report.row_columns`,
    rows :func:`kquant.run.report.flat_row`, header once) or ``.jsonl`` / ``.json`` (one
    JSON object per line, as ``--json`` prints it: ``seconds`` an object, ``notes`` a
    list).

    Parameters
    ----------
    path : Path
    existing : {"refuse", "replace", "append"}
        What to do with an existing report: refuse it (the rows of an earlier run are
        never lost by accident), replace it, or append this run's rows to it (a
        resumed run keeps the whole history; a CSV must have the same columns).

    Raises
    ------
    UsageError
        A suffix other than .csv/.jsonl/.json, or a CSV to append to with other
        columns.
    OutputExistsError
        The report exists and ``existing`` is "refuse".
    ImageWriteError
        The report cannot be opened for writing.
    """

    def __init__(self, path: Path, *, existing: str = "refuse") -> None:
        self.append = self.check(path, existing=existing)
        self.path = path
        self.csv = path.suffix.lower() == ".csv"
        self.error: str | None = None
        self._fh: IO[str] | None = None  # opened with the first row
        self._writer: csv.DictWriter | None = None

    def _open(self) -> IO[str]:
        """The report's file, created (or opened to append) with the first row, so a
        run that writes no row (refused for misuse) leaves no file."""
        if self._fh is None:  # names that are not UTF-8 are written with backslash escapes
            self._fh = open(  # noqa: SIM115
                self.path, "a" if self.append else "w", newline="", encoding="utf-8",
                errors="backslashreplace",
            )  # fmt: skip
            if self.csv:
                self._writer = csv.DictWriter(self._fh, row_columns())
                if not self.append:
                    self._writer.writeheader()
        return self._fh

    @staticmethod
    def check(path: Path, *, existing: str = "refuse") -> bool:
        """Whether a report at ``path`` would be appended to, after refusing what
        :class:`ReportWriter` refuses (see Raises there), with nothing created."""
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".jsonl", ".json"):
            raise UsageError(f"{path}: report must end in .csv or .jsonl", params=("report",))
        present = path.is_file() and path.stat().st_size > 0
        if present and existing == "refuse":
            raise OutputExistsError(
                f"{path}: report already exists (use --force to replace it, or "
                "--skip-existing to add this run's rows to it)",
                path=path,
            )
        folder = path.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            why = "no such folder" if not folder.is_dir() else "folder not writable"
            raise ImageWriteError(f"{path}: cannot write the report: {why} {folder}")
        append = present and existing == "append"
        if append and suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if header != row_columns():
                raise UsageError(
                    f"{path}: cannot add rows to a report with other columns (from another "
                    "version of kquant?); use --force to replace it or another file",
                    params=("report",),
                )
        return append

    def write(self, row: dict[str, Any]) -> bool:
        """Write one :func:`kquant.run.report.report_row`; False if the report can no
        longer be written (a full disk): :attr:`error` then says why, and later rows
        are dropped, so the run itself goes on."""
        if self.error is not None:
            return False
        try:
            fh = self._open()
            if self._writer is not None:
                self._writer.writerow(flat_row(row))
            else:
                fh.write(json.dumps(row) + "\n")
            fh.flush()
        except OSError as exc:
            self.error = f"{self.path}: cannot write the report: {exc.strerror or exc}"
            return False
        return True

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.close()
        except OSError as exc:
            if self.error is None:
                self.error = f"{self.path}: cannot write the report: {exc.strerror or exc}"


def image_pixels(path: Path) -> int:
    """Width x height from the file's header (0 if it cannot be read); read as kquant
    reads images, so nothing Pillow says about the file is printed (the job itself
    reports it)."""
    from PIL import Image

    from kquant.errors import per_image
    from kquant.io.images import reading

    try:
        with per_image(path), reading(path, path), Image.open(path) as im:
            return im.width * im.height
    except Exception:  # the job itself will report what is wrong with the file
        return 0


def run_jobs(
    jobs: list[Job],
    settings: CompressSettings,
    executor: Any,
    *,
    make_folder: bool = False,
    skip_existing: bool = False,
) -> JobRun:
    """Compress ``jobs`` on any :class:`concurrent.futures.Executor`; iterate the
    returned :class:`JobRun` for their results in input order, each as it is ready.

    ``executor`` may be kquant's local :class:`kquant.run.pool.WorkerPool` (what
    ``kquant compress -j N`` uses), a Dask cluster's
    (``distributed.Client(address).get_executor()``), a thread pool or any other;
    the jobs' paths must be readable and writable where the executor runs them. A
    job whose worker died (and that the executor gave up on: Dask's
    ``KilledWorker`` after its retries, the local pool's
    :class:`~kquant.run.pool.WorkerDied`) comes back as an error result; none is lost
    silently. To stop early (Ctrl-C), call :meth:`JobRun.stop`.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:  # doctest: +SKIP
    ...     for result in run_jobs(plan.jobs, CompressSettings(k=64), pool):
    ...         print(result.row())
    """
    futures = [
        executor.submit(run_job, job, settings, make_folder=make_folder,
                        skip_existing=skip_existing)
        for job in jobs
    ]  # fmt: skip
    return JobRun(jobs, futures, executor)


class JobRun:
    """The jobs of one :func:`run_jobs` call, running on an executor.

    Iterating yields a :class:`JobResult` per job in input order, each as soon as
    it and the jobs before it are done. :meth:`stop` ends the run early.

    A job is lost when its future is cancelled though kquant did not cancel it (it
    does only in :meth:`stop`), or when the executor's ``lost()`` (polled while
    waiting, :meth:`kquant.run.cluster.ClusterExecutor.lost`) says its futures not done
    will never be: on Dask, the scheduler died, and the client cancels the futures
    it holds (a result being fetched then stays pending). The result cannot come
    back, yet the job may have been done: Dask's workers finish the task they are
    running, and write its output, before their processes end. So every job not
    reported gets its row by this rule:

    1. once, the executor's ``settle()``
       (:meth:`kquant.run.cluster.ClusterExecutor.settle`) waits until nothing of the
       run can still be written (every worker's process has ended, within a bound)
       and says what happened ("the Dask scheduler was lost");
    2. a job whose output file is there and is not the file that was there when
       the jobs were submitted was written by the run, and completely (outputs are
       written atomically): an "ok" row, without measurements, its ``error`` saying
       why;
    3. any other job is an error row: "INPUT: the Dask scheduler was lost before
       this image's result came back; no output was written", or, if step 1 could
       not make sure that nothing still runs, "...; a worker may still write
       OUTPUT". An output named after the k a quality target finds cannot be looked
       for: its row says so.

    So no output of the run appears after its rows unless a row says it may, and
    every output it wrote has an "ok" row.
    """

    def __init__(self, jobs: list[Job], futures: list[Any], executor: Any) -> None:
        self.jobs, self.futures, self.executor = jobs, futures, executor
        self.taken = 0  # results handed out so far
        self.before = [self._stamp(job) for job in jobs]  # the outputs before the work
        self.loss: tuple[str, bool] | None = None  # what the executor's settle() said

    def __iter__(self) -> Iterator[JobResult]:
        from concurrent.futures import CancelledError, wait

        lost = getattr(self.executor, "lost", None)
        while self.taken < len(self.jobs):
            i = self.taken
            job, future = self.jobs[i], self.futures[i]
            while lost is not None and not future.done() and not lost():
                wait([future], timeout=0.5)
            try:
                result = _result_of(job, future) if future.done() or lost is None else None
            except CancelledError:  # not by stop(): the executor lost it
                result = None
            except Exception:
                if lost is None or not lost():
                    raise  # a bug
                result = None  # a result that could not be fetched: lost with the scheduler
            if result is None:
                result = self._lost(i)
            elif result.status == "interrupted":  # its worker was signalled, not this run
                result = JobResult(job, "error", error_type="WorkerInterrupted",
                                   error=f"{job.input}: its worker process was interrupted "
                                   "before it finished; no output was written")  # fmt: skip
            self.taken += 1
            yield result

    def _lost(self, i: int) -> JobResult:
        """The row of job ``i``, lost by the executor (the rule above)."""
        if self.loss is None:
            settle = getattr(self.executor, "settle", None)
            self.loss = settle() if settle is not None else ("the executor cancelled it", False)
        what, settled = self.loss
        job = self.jobs[i]
        if job.name is not None:
            tail = "; whether it was written is unknown (its name depends on the k found)"
        elif self._stamp(job) not in (None, self.before[i]):
            return JobResult(job, "ok", error=f"{job.input}: written, but {what} before its "
                             "report came back (no measurements)")  # fmt: skip
        elif settled:
            tail = "; no output was written"
        else:
            tail = f"; a worker may still write {job.output}"
        return JobResult(job, "error", error_type="ExecutorLost",
                         error=f"{job.input}: {what} before this image's result came "
                         f"back{tail}")  # fmt: skip

    @staticmethod
    def _stamp(job: Job) -> tuple[int, int, int] | None:
        """Which file the job's output is now (None: there is none)."""
        try:
            st = os.stat(job.output)
        except (OSError, ValueError):
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def stop(self) -> list[JobResult]:
        """Cancel the jobs not started; interrupt those running where the executor
        can (the local pool: their temporary files go; on Dask they run to the end,
        writing atomically, and are dropped); return the results of jobs finished by
        then and not handed out yet, in input order."""
        pending = list(zip(self.jobs[self.taken :], self.futures[self.taken :], strict=True))
        for _, future in pending:
            future.cancel()
        interrupt = getattr(self.executor, "interrupt", None)
        if interrupt is not None:
            interrupt()
        finished = [_result_of(job, future) for job, future in pending
                    if future.done() and not future.cancelled()]  # fmt: skip
        self.taken = len(self.jobs)
        return [result for result in finished if result.status != "interrupted"]


def _result_of(job: Job, future: Any) -> JobResult:
    """The result of ``job``'s future (waiting for it); a lost worker is an error
    result, an interrupted job an "interrupted" one."""
    from kquant.run.pool import TaskInterrupted, WorkerDied

    try:
        return future.result()
    except TaskInterrupted:
        return JobResult(job, "interrupted")
    except Exception as exc:
        if not _worker_died(exc):
            raise  # a bug, not a lost worker
        how = f" ({exc})" if str(exc) else ""
        if not isinstance(exc, WorkerDied):
            how = f" ({type(exc).__name__})"
        return JobResult(job, "error", error_type="WorkerDied",
                         error=f"{job.input}: the worker process died{how} "
                         "while compressing it (out of memory?)")  # fmt: skip


def _worker_died(exc: BaseException) -> bool:
    """Whether an executor's exception means the job's worker died: kquant's pool's
    :class:`~kquant.run.pool.WorkerDied`, a broken ``ProcessPoolExecutor``, or Dask's
    ``KilledWorker`` (the task killed every worker it was given)."""
    from concurrent.futures import BrokenExecutor

    from kquant.run.pool import WorkerDied

    return isinstance(exc, BrokenExecutor | WorkerDied) or type(exc).__name__ == "KilledWorker"


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
        """The report row (:func:`kquant.run.report.report_row`): ``output`` names a file
        only if it holds this input's result (written now, or kept by
        ``--skip-existing``); it is None when the job failed or wrote nothing."""
        report = self.report
        if report is not None:
            output = report.output if report.written else None
        else:  # skipped, or written on a lost executor (no measurements came back)
            output = str(self.job.output) if self.status in ("skipped", "ok") else None
        return report_row(
            report,
            input=str(self.job.input) if report is None else report.input,
            output=output,
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
    skip_existing: bool = False,
    progress: Callable[[Stage], None] | None = None,
) -> JobResult:
    """Compress one job with ``settings`` and catch what can go wrong with it.

    ``source`` / ``target`` replace the job's paths with file objects (stdin,
    stdout). ``make_folder`` creates the output's folder first. With
    ``skip_existing``, an existing output is a skipped job, not an error (for names
    known only after a quality target's search; others are skipped before any work).
    Every error raised while working on the image comes back in the result: kquant's
    own (bad file, cannot write, out of memory) and any other exception, as an
    :class:`~kquant.errors.UnexpectedError` naming the file (with ``KQUANT_DEBUG=1``
    such exceptions propagate with their traceback). Module-level, so worker
    processes can run it; the in-process path runs it too.
    """
    from kquant.errors import KquantError, per_image
    from kquant.run.compress import compress_file

    try:
        if make_folder:
            from kquant.run.written import make_folder as make

            make(job.output)
        with per_image(job.input) as heard:
            report = compress_file(
                job.input if source is None else source,
                job.destination if target is None else target,
                settings,
                progress=progress,
            )
        if heard:  # warnings about the file: notes of its report
            notes = (*report.notes, *(f"warning: {line}" for line in heard))
            report = dataclasses.replace(report, notes=notes)
    except (KquantError, MemoryError, OSError) as exc:
        if skip_existing and isinstance(exc, OutputExistsError):  # a name known only now
            output = exc.path or job.output
            return JobResult(Job(job.input, output), "skipped", error="output exists")
        if isinstance(exc, MemoryError) and not isinstance(exc, KquantError):
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
    if report.min_met is False:
        return JobResult(job, "skipped", report=report, error="quality below the minimum")
    return JobResult(job, "skipped", report=report, error="output not smaller than input")
