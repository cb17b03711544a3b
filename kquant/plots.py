"""Curves of a sweep against k, with matplotlib (the optional ``plot`` extra).

The figure is a :class:`matplotlib.figure.Figure` made directly, not through pyplot,
so drawing it never switches the caller's backend (no ``matplotlib.use``) and
leaves no global figure behind; ``figure.savefig`` picks the writer by format.
"""

from __future__ import annotations

import math

from kquant.sweep import SweepRow

__all__ = ["SUGGESTION_STYLES", "plot_sweep"]

#: How each suggested k is drawn: label, color, line style.
SUGGESTION_STYLES = {
    "elbow": ("elbow of inertia", "tab:red", "--"),
    "silhouette": ("silhouette maximum", "tab:green", ":"),
    "target_psnr": ("smallest k reaching the target", "tab:purple", "-."),
}


def plot_sweep(
    rows: list[SweepRow],
    suggested: dict[str, int | None] | None = None,
    *,
    title: str = "",
    target_psnr: float | None = None,
):
    """A matplotlib Figure of five panels against k: inertia (log scale), PSNR, PNG
    bytes, silhouette, Calinski-Harabasz, and a sixth holding the legend. The x axis
    is log-scaled with a tick at each k tried, labelled with its value (8, 16, ...).
    Each suggested k (:func:`kquant.sweep.suggest`) is a vertical line in every
    panel, named in the legend; a PSNR target is a horizontal line on the PSNR
    panel. Nothing timed is drawn, so the same sweep gives the same picture.

    Parameters
    ----------
    rows : list of SweepRow
    suggested : dict or None
        ``elbow``, ``silhouette``, ``target_psnr`` -> k or None.
    title : str
        The figure's title (the image's name).
    target_psnr : float or None
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator

    ks = [r.k for r in rows]

    def values(name: str) -> list[float]:
        return [math.nan if getattr(r, name) is None else float(getattr(r, name)) for r in rows]

    panels = [
        ("inertia", values("inertia"), "log"),
        ("PSNR (dB)", values("psnr"), "linear"),
        ("PNG size (KB)", [r.bytes / 1024 for r in rows], "linear"),
        ("silhouette", values("silhouette"), "linear"),
        ("Calinski-Harabasz", values("calinski_harabasz"), "linear"),
    ]
    figure = Figure(figsize=(12, 7), layout="constrained")
    figure.suptitle(f"{title}: measures against k" if title else "measures against k")
    marks = [(key, k) for key, k in (suggested or {}).items() if k is not None]
    for i, (name, ys, yscale) in enumerate(panels):
        ax = figure.add_subplot(2, 3, i + 1)
        ax.plot(ks, ys, marker="o", color="tab:blue")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(ks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_yscale(yscale)
        ax.set_xlabel("k (colors)")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        for key, k in marks:
            label, color, style = SUGGESTION_STYLES[key]
            ax.axvline(k, color=color, linestyle=style, label=f"{label}: k={k}")
        if name.startswith("PSNR") and target_psnr is not None:
            ax.axhline(target_psnr, color="gray", linewidth=0.8, label=f"target {target_psnr:g} dB")
    key = figure.add_subplot(2, 3, 6)
    key.axis("off")
    handles = [line for ax in figure.get_axes()[:2] for line in ax.get_lines()[1:]]
    seen: dict[str, object] = {}
    for line in handles:
        seen.setdefault(line.get_label(), line)
    if seen:
        key.legend(list(seen.values()), list(seen), loc="center", title="suggested k")
    return figure


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
