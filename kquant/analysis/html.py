"""A self-contained HTML page of a batch or a comparison: a sortable table, and every
image before and after, worst first.

The page needs nothing but itself: styles and the few lines of script are inline,
thumbnails are embedded as JPEG data URIs (at most :data:`THUMB` pixels a side, about
15-30 KB each, so 1000 images make a page of about 30-60 MB), and each thumbnail links
to the full file by a path relative to the page (:func:`link_to`). It works opened from
disk, with no network. Script: click a column's header to sort by it (or open
``page.html#sort=N`` for column N, from 0); drag the slider on an image to move the line
between before (left) and after (right).

File names are data, never markup or URLs:

- A link is the file's path relative to the page's folder, its bytes (``os.fsencode``:
  a name that is not UTF-8 keeps its real bytes) percent-encoded with only ``/`` left
  as it is, and ``./`` put in front unless it starts with ``../``. So no link can be
  read as a URL scheme (``javascript:x.png`` links to ``./javascript%3Ax.png``), and
  ``#``, ``?``, ``%``, spaces, quotes, ``<``, ``&`` or newlines in a name link to that
  file. Links are never absolute, except on Windows for a file on another drive than
  the page: there a ``file:`` URL (:meth:`pathlib.Path.as_uri`).
- Text (names, titles, error messages) is HTML-escaped, and any character UTF-8
  cannot hold (a name that is not UTF-8 reaches Python as surrogate escapes) is shown
  as U+FFFD, so the page can always be written as UTF-8.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np
from PIL import Image

from kquant.run.report import is_larger

__all__ = ["THUMB", "Entry", "entries_from_rows", "link_to", "render_page", "thumbnail"]

#: Largest side of an embedded thumbnail, in pixels.
THUMB = 320

#: The table's columns: (key of an entry's values, header, how to show it).
COLUMNS = (
    ("input", "input", "{}"),
    ("status", "status", "{}"),
    ("colors_in", "colors in", "{:,}"),
    ("colors_out", "colors out", "{:,}"),
    ("psnr", "PSNR dB", "{:.2f}"),
    ("delta_e", "ΔE2000", "{:.2f}"),
    ("bytes_in", "bytes in", "{:,}"),
    ("bytes_out", "bytes out", "{:,}"),
)


@dataclass
class Entry:
    """One image of the page.

    Attributes
    ----------
    values : dict
        ``input``, ``status`` and the numbers of :data:`COLUMNS` (missing: shown
        empty); ``error`` for a failed one.
    before, after : bytes or None
        JPEG thumbnails (:func:`thumbnail`).
    before_link, after_link : str or None
        Where the full images are: URLs relative to the page (:func:`link_to`).
    """

    values: dict
    before: bytes | None = None
    after: bytes | None = None
    before_link: str | None = None
    after_link: str | None = None


def thumbnail(image: Image.Image | np.ndarray, size: int = THUMB) -> bytes:
    """A JPEG (quality 90) at most ``size`` pixels a side; transparency over a
    checkerboard."""
    from kquant.io.drawing import on_checkerboard

    if isinstance(image, Image.Image):
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
        image = np.asarray(image.convert("RGBA") if "A" in image.mode or "transparency" in
                           image.info else image.convert("RGB"))  # fmt: skip
    picture = on_checkerboard(image)
    picture.thumbnail((size, size), Image.Resampling.BOX)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _thumb_of(path: str | None, size: int) -> bytes | None:
    """A thumbnail of a file the run read or wrote, or None. Read as kquant reads
    images (:func:`kquant.io.images.reading` inside :func:`kquant.errors.per_image`), so
    what Pillow or libtiff says about the file is not printed again, and whatever
    goes wrong only costs the thumbnail."""
    if not path or path == "-" or not os.path.isfile(path):
        return None
    from kquant.errors import per_image
    from kquant.io.images import reading

    try:
        with per_image(path), reading(Path(path), Path(path)), Image.open(path) as im:
            return thumbnail(im, size)
    except Exception:
        return None


def link_to(path: str | os.PathLike[str] | None, page: Path) -> str | None:
    """The URL of the file ``path`` from the HTML page ``page``: its path relative to
    the page's folder, its bytes percent-encoded (only ``/`` kept), after ``./`` unless
    it starts with ``../``; None for no file (None, ``""`` or ``-``, standard input).

    Examples
    --------
    >>> link_to("javascript:alert(1).png", Path("page.html"))
    './javascript%3Aalert%281%29.png'
    >>> link_to("in/a#b.png", Path("pages/page.html"))
    '../in/a%23b.png'
    """
    if not path or str(path) == "-":
        return None
    target = Path(path).absolute()
    try:
        relative = os.path.relpath(target, page.absolute().parent)
    except ValueError:  # Windows: another drive than the page's
        return target.as_uri()
    link = quote(os.fsencode(Path(relative).as_posix()), safe="/")
    return link if link.startswith("../") else "./" + link


def _utf8(text: str) -> str:
    """``text`` with each surrogate (a byte of a name that is not UTF-8, as
    ``os.fsdecode`` gives it) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def entries_from_rows(rows: Sequence[dict], page: Path, size: int = THUMB) -> list[Entry]:
    """Entries of a batch's report rows (:func:`kquant.run.report.report_row`), with
    thumbnails read from the input and output files and links relative to ``page``
    (:func:`link_to`)."""
    return [
        Entry(
            values=dict(row),
            before=_thumb_of(row.get("input"), size) if _was_read(row) else None,
            after=_thumb_of(row.get("output"), size),
            before_link=link_to(row.get("input"), page),
            after_link=link_to(row.get("output"), page),
        )
        for row in rows
    ]


def _was_read(row: dict) -> bool:
    """Whether the row's input was read as an image by the run (it has a report): a
    failed or passed-over input is not opened again for its thumbnail (it may be a
    decoding bomb, or not an image at all)."""
    return row.get("width") is not None


def _worst_first(entry: Entry) -> tuple:
    """Errors first, then the lowest PSNR (lossless last), then what was skipped;
    ties by name."""
    v = entry.values
    rank = {"error": 0, "ok": 1}.get(str(v.get("status")), 2)
    psnr = v.get("psnr")
    return (rank, float("inf") if psnr is None else psnr, str(v.get("input")))


def render_page(entries: list[Entry], title: str, noun: str = "images") -> str:
    """The page's HTML, entries worst first; ``noun`` names what the rows are.

    Every character of the result can be encoded as UTF-8: surrogates (names that are
    not UTF-8) are shown as U+FFFD.
    """
    entries = sorted(entries, key=_worst_first)
    head = "".join(
        f'<th data-col="{i}" data-num="{int(key not in ("input", "status"))}" '
        f'title="sort">{html.escape(label)}</th>'
        for i, (key, label, _) in enumerate(COLUMNS)
    )
    body, figures = [], []
    for n, entry in enumerate(entries):
        v = entry.values
        cells = []
        for key, _, fmt in COLUMNS:
            value = v.get(key)
            shown = "" if value is None else fmt.format(value)
            if key == "psnr" and value is None and v.get("status") == "ok":
                shown = "lossless"
            sort = "" if value is None else value
            if key == "psnr" and value is None:
                sort = 1e9 if v.get("status") == "ok" else -1
            text = html.escape(shown)
            if key == "input":
                text = f'<a href="#img{n}">{text}</a>'
            mark = ""
            if key == "bytes_out" and v.get("status") == "ok" and _grew(v):
                mark, text = ' class="larger" title="larger than the input"', f"{text} ▲"
            cells.append(f'<td data-sort="{html.escape(str(sort))}"{mark}>{text}</td>')
        css = "" if v.get("status") == "ok" else ' class="bad"'
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
        figures.append(_figure(n, entry))
    page = _PAGE.format(
        title=html.escape(title),
        count=f"{len(entries)} {html.escape(noun)}",
        head=head,
        rows="\n".join(body),
        figures="\n".join(figures),
    )
    return _utf8(page)  # names that are not UTF-8; links are ASCII (link_to)


def _img(data: bytes | None, alt: str, link: str | None, css: str = "") -> str:
    if data is None:
        return f'<div class="missing {css}">{html.escape(alt)}: no picture</div>'
    src = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    img = f'<img class="{css}" alt="{html.escape(alt)}" src="{src}">'
    return img if link is None else f'<a href="{html.escape(link)}">{img}</a>'


def _grew(values: dict) -> bool:
    """Whether an entry's output is larger than its input."""
    bytes_in, bytes_out = values.get("bytes_in"), values.get("bytes_out")
    return bytes_in is not None and bytes_out is not None and is_larger(bytes_in, bytes_out)


def _figure(n: int, entry: Entry) -> str:
    v = entry.values
    name = html.escape(str(v.get("input")))
    psnr = v.get("psnr")
    quality = "lossless" if psnr is None else f"PSNR {psnr:.2f} dB"
    caption = f"{name}: {html.escape(quality)}" if v.get("status") == "ok" else (
        f"{name}: {html.escape(str(v.get('status')))} {html.escape(str(v.get('error') or ''))}"
    )  # fmt: skip
    if entry.before is not None and entry.after is not None:
        pictures = (
            '<div class="slider">'
            + _img(entry.before, "before", entry.before_link, "before")
            + _img(entry.after, "after", entry.after_link, "after")
            + '<input type="range" min="0" max="100" value="50" aria-label="before/after">'
            + "</div>"
        )
    else:
        pictures = _img(entry.before, "before", entry.before_link) + _img(
            entry.after, "after", entry.after_link
        )
    return f'<section id="img{n}"><h2>{caption}</h2><div class="pair">{pictures}</div></section>'


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
th, td {{ padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) {{ text-align: left; }}
th {{ cursor: pointer; background: #f3f3f3; user-select: none; white-space: nowrap; }}
th.asc::after {{ content: " \\25B2"; }} th.desc::after {{ content: " \\25BC"; }}
tr.bad td {{ background: #fde8e8; }}
td.larger {{ color: #b00; font-weight: 600; }}
section {{ margin: 1em 0 2em; }} h2 {{ font-size: 15px; margin: 0 0 .4em; }}
.pair {{ display: flex; gap: 12px; flex-wrap: wrap; align-items: flex-start; }}
.slider {{ position: relative; display: inline-block; line-height: 0; }}
.slider img {{ display: block; }}
.slider a + a img, .slider img.after {{ position: absolute; top: 0; left: 0;
  clip-path: inset(0 0 0 50%); }}
.slider input {{ position: absolute; left: 0; right: 0; bottom: 4px; width: 100%; }}
.missing {{ padding: 1em; background: #eee; }}
</style></head>
<body data-images="0">
<h1>{title}</h1>
<p>{count}, worst first (errors, then the lowest PSNR; skipped files last). Click a column to sort;
drag a slider to compare before (left) and after (right); click a picture for the file;
▲ marks an output larger than its input.</p>
<table id="rows"><thead><tr>{head}</tr></thead><tbody>
{rows}
</tbody></table>
{figures}
<script>
"use strict";
document.querySelectorAll("th").forEach(function (th) {{
  th.addEventListener("click", function () {{
    var col = +th.dataset.col, num = th.dataset.num === "1";
    var desc = th.classList.contains("asc");
    document.querySelectorAll("th").forEach(function (h) {{ h.className = ""; }});
    th.className = desc ? "desc" : "asc";
    var body = document.querySelector("#rows tbody");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {{
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      var d = num ? (parseFloat(x || "NaN") || 0) - (parseFloat(y || "NaN") || 0)
                  : x.localeCompare(y);
      return desc ? -d : d;
    }});
    rows.forEach(function (r) {{ body.appendChild(r); }});
  }});
}});
document.querySelectorAll(".slider input").forEach(function (range) {{
  range.addEventListener("input", function () {{
    var top = range.parentNode.querySelector("img.after");
    top.style.clipPath = "inset(0 0 0 " + range.value + "%)";
  }});
}});
var wanted = /^#sort=(\\d+)$/.exec(location.hash);  // page.html#sort=4: sorted by column 4
if (wanted && document.querySelectorAll("th")[+wanted[1]]) {{
  document.querySelectorAll("th")[+wanted[1]].click();
}}
window.addEventListener("load", function () {{
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) {{ return img.complete && img.naturalWidth > 0; }});
  document.body.dataset.images = images.length + " " + loaded.length;
}});
</script>
</body></html>
"""


def comparison_page(title: str, pixels, results, rows: list[dict], k: int) -> str:
    """The HTML page of a comparison: a row per method, each result against the
    original (``pixels``, (H, W, C) uint8); ``rows`` are the comparison's rows."""
    from kquant.core.colors import color_histogram

    original = thumbnail(pixels)
    colors_in = color_histogram(pixels.reshape(-1, pixels.shape[2])).n_colors
    entries = []
    for r, row in zip(results, rows, strict=True):
        values = {"input": f"{row['method']}, k={k}", "status": "ok", "colors_in": colors_in,
                  "colors_out": row["colors_out"], "psnr": row["psnr"],
                  "delta_e": row.get("delta_e"), "bytes_in": row["bytes_in"],
                  "bytes_out": row["bytes_out"]}  # fmt: skip
        entries.append(Entry(values, before=original, after=thumbnail(r.quantized.to_array())))
    return render_page(entries, f"kquant compare {title}: k={k}", noun="results")
