"""Running ``kquant compress``'s jobs for the command line: in this process or in
worker processes, with progress bars, report rows, one-line errors and the closing
summary. The planning (which files, which outputs) is :mod:`kquant.run.batch`; the work
on one image is :func:`kquant.run.batch.run_job`, which both paths run with the same
:class:`kquant.settings.CompressSettings`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kquant.cli.errors import one_line, with_hint
from kquant.defaults import STDIO
from kquant.stages import STAGES, Stage

if TYPE_CHECKING:
    from kquant.cli.rows import RowPrinter
    from kquant.run.batch import Job, JobResult, ReportWriter
    from kquant.settings import CompressSettings


#: Seconds between redraws of the one-image bar.
TICK = 0.25


class Runner:
    """Runs the jobs and keeps the tally.

    One input: errors propagate (exit 1 or 2 with one line). Many inputs: each
    error is printed as one line and recorded, and the run goes on; a progress bar
    shows on a terminal, and a one-line summary closes the run. With ``jobs`` > 1
    and several images, worker processes do the work; results are taken in input
    order, so reports and outputs do not depend on the number of workers.
    """

    def __init__(
        self,
        *,
        batch: bool,
        quiet: bool,
        verbose: bool,
        rows: RowPrinter,
        writer: ReportWriter | None,
        ignored: list[tuple[Path, str]],
        jobs: int | None,
        where: str | None = None,
    ) -> None:
        from kquant.run.report import report_row

        self.batch, self.quiet, self.verbose = batch, quiet, verbose
        self.printer, self.writer, self.ignored = rows, writer, len(ignored)
        self.report_lost = False
        self.where = where  # where the outputs go, for the end line
        self.rows: list[dict] | None = None  # kept for --html
        for path, why in ignored:  # files passed over are inputs too: they get a row
            row = report_row(None, input=str(path), output=None, status="skipped", error=why)
            self._report(row, None)
            rows(row)
        self.workers = jobs
        self.skip_existing = False
        self.ok = self.skipped = self.failed = self.missed = self.below_min = 0
        self.larger = 0  # outputs written larger than their inputs
        self.bytes_in = self.bytes_out = 0

    def all(
        self,
        jobs: list[Job],
        settings: CompressSettings,
        *,
        skip_existing: bool,
        executor: Any = None,
    ) -> None:
        """Run ``jobs`` with ``settings``; ``skip_existing`` passes over jobs whose
        output exists (reported as skipped): before any work, or for names that depend
        on a quality target's k, once the k is known. With ``executor`` (a Dask
        cluster's), the jobs run there (:func:`kquant.run.batch.run_jobs`)."""
        import time

        from tqdm import tqdm

        from kquant.run.batch import JobResult

        start = time.perf_counter()
        bar = tqdm(
            total=len(jobs),
            unit="image",
            file=sys.stderr,
            disable=None if self.batch and not self.quiet else True,
            leave=False,
        )
        todo = []
        for job in jobs:
            known = job.name is None and str(job.output) != STDIO
            if skip_existing and known and job.output.exists():
                self.take(JobResult(job, "skipped", error="output exists"), bar)
            else:
                todo.append(job)
        self.skip_existing = skip_existing
        if self.workers is None and executor is None and len(todo) > 1:
            self.workers = self._workers_for(todo, settings)
        try:
            if executor is not None:
                self._in_executor(executor, todo, settings, bar)
            elif min(self.workers or 1, len(todo)) <= 1:
                self._in_process(todo, settings, bar)
            else:
                self._in_workers(todo, settings, bar)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (cli.group.main)
            bar.close()
            self._summary(time.perf_counter() - start, planned=len(jobs))
            raise click.Abort() from exc
        bar.close()
        self._summary(time.perf_counter() - start)

    def _in_process(self, jobs: list[Job], settings: CompressSettings, bar) -> None:
        from kquant.run.batch import run_job

        for job in jobs:
            source = io.BytesIO(_stream("stdin").read()) if str(job.input) == STDIO else None
            target = _stream("stdout") if str(job.output) == STDIO else None
            with self._stages(settings) as progress:
                result = run_job(job, settings, source=source, target=target,
                                 make_folder=True, skip_existing=self.skip_existing,
                                 progress=progress)  # fmt: skip
                self.take(result, bar)

    def _workers_for(self, jobs: list[Job], settings: CompressSettings) -> int:
        """The default -j: one worker per core, fewer if the largest image's estimated
        peak times that many would not fit in the memory left (said with -v)."""
        from kquant.core.memory import available_memory, workers_for
        from kquant.run.batch import image_pixels

        cores, available = os.cpu_count() or 1, available_memory()
        if settings.max_pixels is not None:  # if images at the pixel limit fit, read no headers
            at_limit = workers_for([settings.max_pixels] * len(jobs), settings, cores, available)
            if at_limit == min(cores, len(jobs)):
                return at_limit
        chosen = workers_for([image_pixels(job.input) for job in jobs], settings, cores,
                             available)  # fmt: skip
        if chosen < min(cores, len(jobs)) and self.verbose and not self.quiet:
            click.echo(f"kquant: {chosen} worker(s), not {cores}: memory is short", err=True)
        return chosen

    def _in_executor(self, executor: Any, jobs: list[Job], settings: CompressSettings, bar):
        """Jobs on an executor: the local worker pool or a Dask cluster's, through the
        same :func:`kquant.run.batch.run_jobs`. Results are taken in input order, so
        reports and outputs do not depend on the number of workers. On Ctrl-C (or
        SIGTERM, SIGHUP) the jobs not started are cancelled, the local workers are
        interrupted (their temporary files go), and every job finished by then is
        still reported."""
        from kquant.run.batch import run_jobs

        run = run_jobs(jobs, settings, executor, make_folder=True,
                       skip_existing=self.skip_existing)  # fmt: skip
        try:
            for result in run:
                self.take(result, bar)
        except KeyboardInterrupt:
            for result in run.stop():
                self.take(result, bar)
            raise

    def _in_workers(self, jobs: list[Job], settings: CompressSettings, bar) -> None:
        """Local worker processes (:class:`kquant.run.pool.WorkerPool`): a worker that dies
        (killed, out of memory) costs only the job it was doing, which gets an error
        row; the pool is rebuilt and the rest is done."""
        from kquant.run.batch import WORKER_IMPORTS
        from kquant.run.pool import WorkerPool

        pool = WorkerPool(min(self.workers or 1, len(jobs)), preload=WORKER_IMPORTS)
        try:
            self._in_executor(pool, jobs, settings, bar)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    @contextlib.contextmanager
    def _stages(self, settings: CompressSettings) -> Iterator:
        """For one input on a terminal, a bar over the stages of its compression, with
        the elapsed time redrawn every :data:`TICK` seconds (a fit can take seconds
        without a stage change, and a frozen bar looks like a hung program)."""
        import threading

        from tqdm import tqdm

        stages = [s for s in STAGES if s is not Stage.METRICS or settings.metrics]
        with tqdm(
            total=len(stages),
            file=sys.stderr,
            disable=None if not self.batch and not self.quiet else True,
            leave=False,
            bar_format="{desc:<5} {bar} {elapsed}",
        ) as bar:

            def progress(stage: Stage) -> None:
                bar.set_description_str(stage.value)
                bar.update(stages.index(stage) - bar.n)  # stages done so far

            done = threading.Event()

            def tick() -> None:
                while not done.wait(TICK):
                    bar.refresh()

            ticker = threading.Thread(target=tick, daemon=True)
            if not bar.disable:
                ticker.start()
            try:
                yield progress
            finally:
                done.set()
                if ticker.is_alive():
                    ticker.join()

    def take(self, result: JobResult, bar) -> None:
        """Count, report and show one result; raise it when it is the only input."""
        from kquant.run.report import format_report, is_larger

        if result.usage and not self.batch:  # misuse of the one input: the run is refused,
            raise click.UsageError(result.error or "")  # so no row, report or page
        row = result.row()
        self._report(row, bar)
        self.printer(row)  # every input's row, exactly as the report gets it
        if result.status == "error":
            self.failed += 1
            message = with_hint(result.error or "", result.error_type)
            if not self.batch:
                raise click.ClickException(message)
            bar.write(f"kquant: error: {one_line(message)}", file=sys.stderr)
        else:
            report = result.report
            if report is not None:
                if not self.quiet and (not self.batch or self.verbose):
                    bar.write(format_report(report), file=sys.stderr)
                self.missed += report.target_met is False
                self.below_min += report.min_met is False
                self.bytes_in += report.bytes_in
                self.bytes_out += report.bytes_out if report.written else report.bytes_in
                self.larger += report.written and is_larger(report.bytes_in, report.bytes_out)
            if result.status == "ok":
                self.ok += 1
            else:
                self.skipped += 1
                if self.verbose and not self.quiet:
                    bar.write(
                        f"kquant: skipped {result.job.input}: {result.error}", file=sys.stderr
                    )
        bar.update()

    def _report(self, row: dict, bar) -> None:
        """Write a report row; the first time the report cannot be written, say so
        once (the run goes on and exits 1)."""
        if self.rows is not None:
            self.rows.append(row)
        if self.writer and not self.writer.write(row) and not self.report_lost:
            self.report_lost = True
            message = f"kquant: error: {self.writer.error}; its later rows are lost"
            if bar is None:
                click.echo(message, err=True)
            else:
                bar.write(message, file=sys.stderr)

    def _summary(self, seconds: float, planned: int | None = None) -> None:
        """The end line; with ``planned`` (interrupted), how many were not done and
        how to resume."""
        if not self.batch or self.quiet:
            return
        from kquant.run.report import human_bytes

        n = self.ignored
        ignored = f"; {n} other file{'s' if n != 1 else ''} ignored" if n else ""
        larger = ""
        if self.larger:
            written = "output" if self.ok == 1 else "outputs"
            larger = f" ({self.larger} of {self.ok} {written} larger than their inputs)"
        left = ""
        if planned is not None:
            n_left = planned - self.ok - self.skipped - self.failed
            left = f", {n_left} not done (the same command with --skip-existing resumes)"
        click.echo(
            f"kquant: {self.ok} ok, {self.skipped} skipped, {self.failed} failed{left}"
            f"{ignored}; {human_bytes(self.bytes_in)} -> {human_bytes(self.bytes_out)}"
            f"{larger}{f', {self.where}' if self.where else ''}; {seconds:.1f} s",
            err=True,
        )


def _stream(name: str) -> Any:
    """The binary buffer of ``sys.stdin`` or ``sys.stdout``, or a one-line error if
    kquant was started with it closed (``<&-``, ``>&-``)."""
    stream = getattr(sys, name)
    if stream is None:
        raise click.ClickException(f"standard {name[3:]}put is closed: nothing to read or write")
    return stream.buffer
