"""kquant sweep: measurements across k, suggestions, the plot."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from helpers import blocks, kquant
from PIL import Image

from kquant.analysis.sweep import parse_ks, suggest, sweep
from kquant.errors import UsageError


def test_parse_ks():
    assert parse_ks("2..256") == [2, 4, 8, 16, 32, 64, 128, 256]
    assert parse_ks("3..20") == [3, 6, 12, 20]
    assert parse_ks("8, 2,4,4") == [2, 4, 8]
    for bad in ("0..4", "8..2", "a,b", "", "70000"):
        with pytest.raises(UsageError):
            parse_ks(bad)


def test_inertia_falls_with_k_and_metric_sample_is_respected():
    rng = np.random.default_rng(0)
    img = np.clip(blocks(64, 64, noise=0).astype(int) + rng.normal(0, 12, (64, 64, 3)), 0, 255)
    rows = sweep(img.astype(np.uint8), [2, 4, 8, 16], metric_sample=300)
    inertia = [r.inertia for r in rows]
    assert inertia == sorted(inertia, reverse=True) and len(set(inertia)) == 4
    assert all(r.metric_sample == 300 for r in rows)
    assert all(-1 <= r.silhouette <= 1 and r.calinski_harabasz > 0 for r in rows)
    # inertia is the objective on every pixel, undithered: 3 x pixels x its MSE; the
    # row's MSE is of the image compress writes, dithered by default (issue 22)
    plain = sweep(img.astype(np.uint8), [2, 4, 8, 16], metric_sample=300, dither="none")
    assert [r.inertia for r in plain] == inertia
    assert [r.silhouette for r in plain] == [r.silhouette for r in rows]
    assert rows[0].inertia == pytest.approx(3 * 64 * 64 * plain[0].mse)
    # at k = 4 the colors are too far apart for diffused noise to change a choice
    assert all(d.mse >= p.mse for d, p in zip(rows, plain, strict=True))
    assert rows[-1].mse > plain[-1].mse and rows[-1].bytes_out != plain[-1].bytes_out


def test_suggestions_on_a_known_answer():
    six = np.array([[10, 20, 30], [200, 10, 10], [10, 200, 10], [10, 10, 200],
                    [250, 250, 0], [0, 250, 250]], np.uint8)  # fmt: skip
    img = six[np.random.default_rng(0).integers(0, 6, (40, 40))]
    rows = sweep(img, [2, 3, 4, 5, 6, 8], metric_sample=500)
    tips = suggest(rows, target_psnr=80)
    assert tips["target_psnr"] == 6  # exact from k=6 on, lossy below
    assert rows[-1].psnr is None and rows[-1].colors_out == 6
    assert tips["silhouette"] == 6  # six perfectly separated clusters
    assert tips["elbow"] in (3, 4, 5, 6)


def test_cli_table_json_and_plot(tmp_path):
    src = tmp_path / "img.png"
    Image.fromarray(blocks(48, 48)).save(src)
    proc = kquant("sweep", src, "-k", "2,4,8", "--json", "--metric-sample", "200",
                      "--target-psnr", "30")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    *rows, summary = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["k"] for r in rows] == [2, 4, 8] and {r["input"] for r in rows} == {str(src)}
    assert summary["input"] == str(src) and summary["metric_sample"] == 200
    assert set(summary["suggested"]) == {"elbow", "silhouette", "target_psnr"}
    assert summary["suggested"]["target_psnr"] in (2, 4, 8) and summary["method"] == "kmeans"
    assert "200 sampled pixels" in proc.stderr and "suggested k: 30 dB -> " in proc.stderr


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    src = tmp_path / "img.png"
    Image.fromarray(blocks(16, 16)).save(src)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    result = kquant("sweep", src, "-k", "2,4", "--plot", tmp_path / "p.png")
    assert result.returncode == 1
    assert "pip install 'kquant[plot]'" in result.stderr
    assert not (tmp_path / "p.png").exists()


def test_sweep_plot_ticks_scales_and_marks(monkeypatch):
    import matplotlib

    from kquant.analysis.plots import plot_sweep
    from kquant.analysis.sweep import suggest, sweep

    def no_switching(*args, **kwargs):
        raise AssertionError("plot_sweep must not switch the caller's backend")

    monkeypatch.setattr(matplotlib, "use", no_switching)
    rows = sweep(blocks(48, 48, noise=20), [2, 4, 8, 16, 32], metric_sample=200)
    tips = suggest(rows, target_psnr=30)
    figure = plot_sweep(rows, {"kmeans": tips}, title="blocks", target_psnr=30)
    axes = figure.get_axes()
    titles = ["inertia", "PSNR (dB)", "PNG size (KiB)", "silhouette", "Calinski-Harabasz", ""]
    assert [ax.get_title() for ax in axes] == titles
    curves, legend_ax = axes[:5], axes[5]
    assert figure.get_suptitle() == "blocks: measures against k"
    for ax in curves:  # real k on a log axis, one tick each, labelled 2, 4, 8...
        assert ax.get_xscale() == "log"
        assert list(ax.get_xticks()) == [2, 4, 8, 16, 32]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "8", "16", "32"]
    assert axes[0].get_yscale() == "log"
    marks = {line.get_label() for line in axes[0].get_lines()}
    names = {"elbow": "elbow of inertia", "silhouette": "silhouette maximum",
             "target_psnr": "smallest k reaching the target"}  # fmt: skip
    for key, k in tips.items():
        if k is not None:
            assert f"{names[key]}: k={k}" in marks
    assert any(line.get_label() == "target 30 dB" for line in axes[1].get_lines())
    legend = [t.get_text() for t in legend_ax.get_legend().get_texts()]
    assert any(text.startswith("elbow of inertia: k=") for text in legend)
    assert "target 30 dB" in legend


def test_sweep_plot_is_the_same_picture_twice(tmp_path):
    src = tmp_path / "img.png"
    Image.fromarray(blocks(32, 32)).save(src)
    plots = [tmp_path / "a.png", tmp_path / "b.png"]
    for plot in plots:
        assert kquant("sweep", src, "-k", "2..16", "--plot", plot).returncode == 0
    assert plots[0].read_bytes() == plots[1].read_bytes()
    with Image.open(plots[0]) as im:
        assert im.format == "PNG" and im.size[0] > 300


def test_sweep_methods_rows_suggestions_and_curves_per_method(tmp_path):
    """Issue 23: k-means against random over k in one command (the seeds'
    comparison): rows, suggestions and plot curves per method; --method works too."""
    src = tmp_path / "img.png"
    Image.fromarray(blocks(48, 48, noise=20)).save(src)
    ran = kquant("sweep", src, "-k", "2,4,8", "--methods", "kmeans,random", "--json",
                 "--metric-sample", "200")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    rows, summaries = lines[:6], lines[6:]
    assert [(r["method"], r["k"]) for r in rows] == [
        (m, k) for m in ("kmeans", "random") for k in (2, 4, 8)]  # fmt: skip
    assert [s["method"] for s in summaries] == ["kmeans", "random"]
    assert all(s["target_psnr"] == 38 for s in summaries)  # the default target
    assert rows[0]["bytes_in"] == src.stat().st_size
    assert set(rows[0]["seconds"]) == {"fit", "map", "total"}
    by = {(r["method"], r["k"]): r for r in rows}
    assert by["kmeans", 8]["inertia"] < by["random", 8]["inertia"]
    assert "kmeans: suggested k: 38 dB" in ran.stderr and "random: suggested k" in ran.stderr
    one = kquant("sweep", src, "-k", "4", "--method", "random")
    assert one.returncode == 0, one.stderr
    assert "elbow of inertia -> n/a" in one.stderr and "None" not in one.stderr
    plot = tmp_path / "p.svg"
    ran = kquant("sweep", src, "-k", "2..8", "--methods", "kmeans,random", "--plot", plot, "-q")
    assert ran.returncode == 0 and ran.stderr == ""
    assert plot.read_bytes().startswith(b"<?xml") and b"<svg" in plot.read_bytes()[:600]


def test_plot_draws_each_method_and_the_input_size():
    from kquant.analysis.plots import METHOD_COLORS, plot_sweep

    rows = sweep(blocks(32, 32, noise=20), [2, 4, 8], metric_sample=100,
                 methods=["kmeans", "random"])  # fmt: skip
    tips = {m: suggest([r for r in rows if r.method == m], 30) for m in ("kmeans", "random")}
    figure = plot_sweep(rows, tips, target_psnr=30, input_bytes=10_240)
    psnr, size = figure.get_axes()[1], figure.get_axes()[2]
    curves = {line.get_label(): line for line in psnr.get_lines() if line.get_marker() == "o"}
    assert set(curves) == {"kmeans", "random"}
    assert curves["random"].get_color() == METHOD_COLORS["random"]
    for method, line in curves.items():
        assert list(line.get_ydata()) == [r.psnr for r in rows if r.method == method]
    inputs = [line for line in size.get_lines() if line.get_label().startswith("the input")]
    assert len(inputs) == 1 and list(inputs[0].get_ydata()) == [10.0, 10.0]
    with pytest.raises(ValueError, match="one method"):
        suggest(rows)
