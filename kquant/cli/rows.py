"""Rows on standard output for machines: ``--json`` (one object per line) and
``--csv`` (a header, then a row each), the same for every command.

A CSV row is the JSON object flattened by :func:`kquant.run.report.flatten`: nested
objects (``seconds``) spread out as ``<key>_<subkey>``, lists joined with ``; ``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click

__all__ = ["RowPrinter"]


class RowPrinter:
    """Prints rows as JSON lines, as CSV, or not at all (``fmt`` None).

    ``columns`` fixes the CSV header (compress's report columns, whatever the first
    row holds); otherwise it is the first row's flattened keys.
    """

    def __init__(self, fmt: str | None, columns: list[str] | None = None) -> None:
        self.fmt, self.columns = fmt, columns
        self._writer: csv.DictWriter | None = None
        self._buffer = io.StringIO()

    def __bool__(self) -> bool:
        return self.fmt is not None

    def __call__(self, row: dict[str, Any]) -> None:
        from kquant.run.report import flatten

        if self.fmt == "json":
            click.echo(json.dumps(row))
        elif self.fmt == "csv":
            flat = flatten(row)
            if self._writer is None:
                columns = self.columns or list(flat)
                self._writer = csv.DictWriter(
                    self._buffer, columns, restval="", lineterminator="\n", extrasaction="ignore"
                )
                self._writer.writeheader()
            self._writer.writerow(flat)
            click.echo(self._buffer.getvalue(), nl=False)  # a line at a time, as --json
            self._buffer.seek(0)
            self._buffer.truncate()


def row_format(as_json: bool, as_csv: bool) -> str | None:
    """``json``, ``csv`` or None, refusing both at once."""
    if as_json and as_csv:
        raise click.UsageError("--json and --csv cannot both go to standard output")
    return "json" if as_json else "csv" if as_csv else None
