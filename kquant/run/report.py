"""The report of one compressed image, and everything derived from it.

:class:`Report` is the one list of report fields. The rows of ``--json``, of JSON-lines
and CSV report files (:func:`report_row`, :func:`row_columns`, :func:`flat_row`) and
the human summary (:func:`format_report`) are all derived from it, so a new field
shows up everywhere at once; nested fields (``seconds``) are flattened by one rule,
``<field>_<subfield>``, wherever a flat row is needed.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass
from typing import Any

from kquant.defaults import METRIC_DECIMALS, METRIC_LABELS

__all__ = [
    "ROW_STATUS",
    "Report",
    "StageSeconds",
    "flat_row",
    "flatten",
    "format_report",
    "human_bytes",
    "is_larger",
    "larger_note",
    "report_row",
    "row_columns",
]


@dataclass(frozen=True)
class StageSeconds:
    """Wall time of each stage (:class:`kquant.stages.Stage`) and of the whole job.

    ``fit`` includes counting colors; importing scikit-learn (about a second, once per
    process) is in no stage but ``total``, except above 8 MP, where it overlaps
    counting colors, in ``fit``; ``map`` includes dithering; ``metrics`` is None unless perceptual
    measures were asked for.
    """

    load: float
    fit: float
    map: float
    save: float
    metrics: float | None
    total: float


@dataclass(frozen=True)
class Report:
    """What :func:`kquant.compress_file` did to one image; the keys of ``--json``.

    See the README ("The report") for the meaning of each field.
    """

    input: str
    output: str
    format: str
    method: str
    space: str
    dither: str
    dither_strength: float
    k: int
    seed: int
    sample: int
    width: int
    height: int
    frames: int
    frames_out: int
    grayscale: bool
    alpha: bool
    colors_in: int
    colors_out: int
    mse: float
    psnr: float | None
    max_error: int
    delta_e: float | None
    ssim: float | None
    delta_e_blur: float | None
    ssim_blur: float | None
    ssimulacra2: float | None
    bytes_in: int
    bytes_out: int
    seconds: StageSeconds
    notes: tuple[str, ...] = ()
    written: bool = True
    target_met: bool | None = None
    min_met: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values: ``seconds`` an object, ``notes`` a list."""
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


#: What a row of ``--json`` or a report file adds to a report's fields: ``status``
#: (``ok``, ``skipped``, ``error``) and ``error`` (the message, or why it was skipped).
ROW_STATUS = ("status", "error")


def report_row(
    report: Report | None,
    *,
    input: str,
    output: str | None,
    status: str,
    error: str | None = None,
) -> dict[str, Any]:
    """One row: ``input``, ``output``, ``status``, ``error``, then the report's other
    fields, each None when there is no report (the input failed or was passed over)."""
    fields = report.to_dict() if report is not None else dict.fromkeys(_field_names())
    fields.pop("input")
    fields.pop("output")
    return {"input": input, "output": output, "status": status, "error": error, **fields}


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Report)]


def _nested() -> dict[str, type]:
    """Report fields that are dataclasses themselves (``seconds``), by name."""
    hints = typing.get_type_hints(Report)
    return {name: hint for name, hint in hints.items()
            if isinstance(hint, type) and dataclasses.is_dataclass(hint)}  # fmt: skip


def row_columns() -> list[str]:
    """The columns of a flat row (CSV): those of :func:`report_row`, with each nested
    field flattened to ``<field>_<subfield>`` in its place."""
    nested = _nested()
    columns = ["input", "output", *ROW_STATUS]
    for name in _field_names():
        if name in nested:
            columns += [f"{name}_{sub.name}" for sub in dataclasses.fields(nested[name])]
        elif name not in ("input", "output"):
            columns.append(name)
    return columns


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """A :func:`report_row` flattened for CSV, keyed by :func:`row_columns`: as
    :func:`flatten` says, with the nested fields of a row without a report (an input
    that failed) present and empty."""
    nested = _nested()
    filled = dict(row)
    for key in nested:
        if key in filled and filled[key] is None:
            filled[key] = dict.fromkeys(f.name for f in dataclasses.fields(nested[key]))
    return flatten(filled)


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON row as a CSV row, the one rule for every command's ``--csv`` and for
    report files: an object spread out as ``<key>_<subkey>`` in its place (seconds
    rounded to 0.1 ms), a list joined with ``; `` (``notes``), text that a
    spreadsheet would take for a formula quoted (:func:`_cell`)."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                flat[f"{key}_{sub}"] = round(item, 4) if isinstance(item, float) else item
        elif isinstance(value, list | tuple):
            flat[key] = _cell("; ".join(str(item) for item in value))
        else:
            flat[key] = _cell(value) if isinstance(value, str) else value
    return flat


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
#: Injection"): =, +, -, @, tab and carriage return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A text cell of a CSV report, with a single quote in front when it would start
    a spreadsheet formula (an input named ``=HYPERLINK(...).png``): OWASP's advice, so
    opening the report in a spreadsheet never runs a file name. Numbers are never
    changed, and JSON reports keep every text exactly."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def is_larger(bytes_in: int, bytes_out: int) -> bool:
    """Whether an output of ``bytes_out`` is larger than its input (of known size)."""
    return 0 < bytes_in < bytes_out


def larger_note(bytes_in: int, bytes_out: int, fmt: str = "PNG") -> str:
    """The note on an output larger than its input, with what to try instead (WebP
    unless the output is WebP already). Indexed PNGs of photos often are larger: a
    JPEG codes a photo in fewer bytes than any palette."""
    webp = "" if fmt == "WEBP" else "-o NAME.webp or --name '{stem}.webp' (lossless WebP), "
    return (
        f"larger than the input ({human_bytes(bytes_in)} -> {human_bytes(bytes_out)}): try "
        f"{webp}fewer colors (-k), or --skip-if-larger to keep the original"
    )


def human_bytes(nbytes: int) -> str:
    """``512 B``, ``192.0 KiB``, ``7.8 MiB``.

    >>> human_bytes(512), human_bytes(196_608), human_bytes(8_178_892)
    ('512 B', '192.0 KiB', '7.8 MiB')
    """
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024 or unit == "MiB":
            return f"{nbytes} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def format_report(report: Report) -> str:
    """A few lines for a person: what went in, what came out, how far and how fast.

    Every field of the report shows (a test checks it). For example::

        china.jpg -> china-k64.png (PNG)
          640x427, 96,615 colors -> 64 (kmeans, k=64, seed 0, fitted on 273,280 px)
          MSE 37.79, PSNR 32.36 dB, max error 56
          deltaE2000 2.42, SSIM 0.9313            (with --metrics deltae,ssim)
          192.0 KiB -> 98.1 KiB (51.1%)
          seconds: load 0.01, fit 0.35, map 0.27, save 0.02, start-up 0.74, total 1.40

    ``start-up`` is the part of ``total`` in no stage (mostly importing
    scikit-learn, once a process), shown when it is 0.05 s or more.
    """
    r = report
    fit = f"fitted on {r.sample:,} px" if r.sample else "no fit needed"
    kind = f", animation of {r.frames} frames" if r.frames_out > 1 else ""
    kind += f", first of {r.frames} frames" if r.frames > 1 and r.frames_out == 1 else ""
    kind += ", gray" if r.grayscale else ""
    kind += ", alpha" if r.alpha else ""
    psnr = "lossless" if r.psnr is None else f"PSNR {r.psnr:.2f} dB"
    ratio = f"{100 * r.bytes_out / r.bytes_in:.1f}%" if r.bytes_in else "n/a"
    stages = {name: value for name, value in asdict(r.seconds).items() if value is not None}
    total = stages.pop("total")
    other = total - sum(stages.values())  # mostly importing scikit-learn, once a process
    if other >= 0.05:
        stages["start-up"] = other
    secs = ", ".join(f"{name} {value:.2f}" for name, value in {**stages, "total": total}.items())
    seen = []
    for field_name, label in METRIC_LABELS.items():
        value = getattr(r, field_name)
        if value is not None:
            seen.append(f"{label} {value:.{METRIC_DECIMALS[field_name]}f}")
    how = r.method if r.space == "rgb" else f"{r.method} in {r.space}"
    if r.dither != "none":
        how += f", {r.dither}" + (f" {r.dither_strength:g}" if r.dither_strength < 1 else "")
    target = {None: "", True: ", target met", False: ", target missed"}[r.target_met]
    target += {None: "", True: ", above the minimum", False: ", below the minimum"}[r.min_met]
    written = "" if r.written else ", not written"
    lines = [
        f"{r.input} -> {r.output} ({r.format}{written})",
        f"  {r.width}x{r.height}{kind}, {r.colors_in:,} colors -> {r.colors_out:,}"
        f" ({how}, k={r.k}{target}, seed {r.seed}, {fit})",
        f"  MSE {r.mse:.2f}, {psnr}, max error {r.max_error}",
        *([f"  {', '.join(seen)}"] if seen else []),
        f"  {human_bytes(r.bytes_in)} -> {human_bytes(r.bytes_out)} ({ratio})",
        f"  seconds: {secs}",
    ]
    lines += [f"  note: {note}" for note in r.notes]
    return "\n".join(lines)
