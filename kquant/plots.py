"""Curves of a sweep against k, with matplotlib (the optional ``plot`` extra)."""

from __future__ import annotations

from kquant.sweep import SweepRow

__all__ = ["plot_sweep"]


def plot_sweep(rows: list[SweepRow]):
    """A matplotlib Figure with four panels against k (log scale): inertia, PSNR,
    silhouette, Calinski-Harabasz."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ks = [r.k for r in rows]
    figure = Figure(figsize=(10, 7), layout="constrained")
    panels = [
        ("inertia", [r.inertia for r in rows]),
        ("PSNR (dB)", [r.psnr if r.psnr is not None else float("nan") for r in rows]),
        ("silhouette", [r.silhouette if r.silhouette is not None else float("nan") for r in rows]),
        ("Calinski-Harabasz", [
            r.calinski_harabasz if r.calinski_harabasz is not None else float("nan")
            for r in rows
        ]),
    ]  # fmt: skip
    for i, (name, values) in enumerate(panels):
        ax = figure.add_subplot(2, 2, i + 1)
        ax.plot(ks, values, marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
    return figure
