"""Curves of a sweep against k, with matplotlib (the optional ``plot`` extra).

The figure is a :class:`matplotlib.figure.Figure` made directly, not through pyplot,
so drawing it never switches the caller's backend (no ``matplotlib.use``) and
leaves no global figure behind; ``figure.savefig`` picks the writer by format.
"""

from __future__ import annotations

import math
from typing import Any

from kquant.analysis.sweep import SweepRow

__all__ = ["METHOD_COLORS", "SUGGESTION_STYLES", "plot_sweep"]

#: How each suggested k is drawn: label, color, line style.
SUGGESTION_STYLES = {
    "elbow": ("elbow of inertia", "tab:red", "--"),
    "silhouette": ("silhouette maximum", "tab:green", ":"),
    "target_psnr": ("smallest k reaching the target", "tab:purple", "-."),
}


#: The color of each method's curves.
METHOD_COLORS = {"kmeans": "tab:blue", "minibatch": "tab:orange", "random": "tab:brown"}


def plot_sweep(
    rows: list[SweepRow],
    suggested: dict[str, dict[str, int | None]] | None = None,
    *,
    title: str = "",
    target_psnr: float | None = None,
    input_bytes: int | None = None,
):
    """A matplotlib Figure of five panels against k: inertia (log scale), PSNR, PNG
    bytes, silhouette, Calinski-Harabasz, and a sixth holding the legend. Each method
    is a curve of its own color (:data:`METHOD_COLORS`). The x axis is log-scaled
    with a tick at each k tried, labelled with its value (8, 16, ...). Each
    suggested k (:func:`kquant.analysis.sweep.suggest`) is a vertical line in every panel,
    named in the legend (with several methods, in the method's color, prefixed with
    its name); a PSNR target is a horizontal line on the PSNR panel, the input
    file's size one on the bytes panel. Nothing timed is drawn, so the same sweep
    gives the same picture.

    Parameters
    ----------
    rows : list of SweepRow
        Of one method or several.
    suggested : dict or None
        Method -> its suggestions (``elbow``, ``silhouette``, ``target_psnr`` -> k
        or None).
    title : str
        The figure's title (the image's name).
    target_psnr : float or None
    input_bytes : int or None
        The input file's size, to see where quantizing stops paying.
    """
    from matplotlib.figure import Figure

    methods = list(dict.fromkeys(r.method for r in rows))
    figure = Figure(figsize=(12, 7), layout="constrained")
    figure.suptitle(f"{title}: measures against k" if title else "measures against k")
    marks = [(method, key, k) for method, tips in (suggested or {}).items()
             for key, k in tips.items() if k is not None]  # fmt: skip
    lines = {"psnr": target_psnr, "bytes_out": input_bytes}
    for i, panel in enumerate(_PANELS):
        _draw_panel(figure.add_subplot(2, 3, i + 1), rows, methods, panel, marks,
                    lines.get(panel[1]))  # fmt: skip
    several = len(methods) > 1
    legend = figure.add_subplot(2, 3, 6)
    legend.axis("off")
    seen: dict[str, Any] = {}
    for ax in figure.get_axes()[:3]:
        for line in ax.get_lines():
            if line.get_label() not in methods or several:
                seen.setdefault(str(line.get_label()), line)
    if seen:
        legend.legend(list(seen.values()), list(seen), loc="center",
                   title="methods and suggested k" if several else "suggested k")  # fmt: skip
    return figure


#: The panels of :func:`plot_sweep`: title, :class:`SweepRow` field, y scale.
_PANELS = [
    ("inertia", "inertia", "log"),
    ("PSNR (dB)", "psnr", "linear"),
    ("PNG size (KiB)", "bytes_out", "linear"),
    ("silhouette", "silhouette", "linear"),
    ("Calinski-Harabasz", "calinski_harabasz", "linear"),
]


def _curve(rows: list[SweepRow], method: str, name: str) -> tuple[list[int], list[float]]:
    """k and the value of field ``name`` (NaN where None; bytes in KiB) of each of
    ``method``'s rows."""
    mine = [r for r in rows if r.method == method]
    ys = [math.nan if getattr(r, name) is None else float(getattr(r, name)) for r in mine]
    return [r.k for r in mine], [y / 1024 for y in ys] if name == "bytes_out" else ys


def _draw_panel(
    ax: Any,
    rows: list[SweepRow],
    methods: list[str],
    panel: tuple[str, str, str],
    marks: list[tuple[str, str, int]],
    level: float | None,
) -> None:
    """One panel of :func:`plot_sweep`: a curve per method on a log2 k axis ticked at
    each k, the suggested k as vertical lines, and ``level`` (the PSNR target on the
    PSNR panel, the input's bytes on the bytes panel) as a horizontal one."""
    from matplotlib.ticker import FixedLocator, NullLocator

    name, field, yscale = panel
    ks = sorted({r.k for r in rows})
    for method in methods:
        ax.plot(*_curve(rows, method, field), marker="o", label=method,
                color=METHOD_COLORS.get(method, "tab:blue"))  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_yscale(yscale)
    ax.set_xlabel("k (colors)")
    ax.set_title(name)
    ax.grid(True, alpha=0.3)
    for method, key, k in marks:
        label, color, style = SUGGESTION_STYLES[key]
        if len(methods) > 1:
            label, color = f"{method}: {label}", METHOD_COLORS.get(method, color)
        ax.axvline(k, color=color, linestyle=style, label=f"{label}: k={k}")
    if field == "psnr" and level is not None:
        ax.axhline(level, color="gray", linewidth=0.8, label=f"target {level:g} dB")
    if field == "bytes_out" and level is not None:
        ax.axhline(level / 1024, color="black", linewidth=0.8, linestyle=(0, (1, 2)),
                   label=f"the input: {level / 1024:,.0f} KiB")  # fmt: skip


#: ``--plot`` suffixes and the matplotlib format each writes.
PLOT_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg",
                ".webp": "webp", ".tif": "tif", ".tiff": "tif"}  # fmt: skip


def plot_format(path) -> str:
    """The matplotlib format of a ``--plot`` path, from its suffix.

    Raises
    ------
    kquant.errors.UsageError
        For another suffix.
    """
    from pathlib import Path

    from kquant.errors import UsageError

    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_FORMATS:
        known = ", ".join(s for s in PLOT_FORMATS if s not in (".jpeg", ".tiff"))
        shown = suffix or "(none)"
        raise UsageError(f"{path}: cannot tell the format from suffix {shown!r}; "
                         f"use one of {known}", params=("plot",))  # fmt: skip
    return PLOT_FORMATS[suffix]


def save_figure(figure, fh, fmt: str) -> None:
    """Write ``figure`` to the binary file ``fh`` as ``fmt``, the same bytes for the
    same figure: no dates in SVG and PDF, a fixed seed for SVG's ids."""
    import matplotlib

    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    with matplotlib.rc_context({"svg.hashsalt": "kquant"}):
        figure.savefig(fh, format=fmt, metadata=metadata)


def write_plot(path, fmt: str, rows: list[SweepRow], tips: dict, *, title: str,
               target_psnr: float | None, input_bytes: int | None,
               overwrite: bool = False) -> None:  # fmt: skip
    """Draw the sweep's curves (:func:`plot_sweep`) and write them to ``path`` as
    ``fmt`` (:func:`plot_format`), atomically."""
    from kquant.io.images import write_atomically

    figure = plot_sweep(rows, tips, title=title, target_psnr=target_psnr, input_bytes=input_bytes)
    write_atomically(path, lambda fh: save_figure(figure, fh, fmt), overwrite=overwrite)
