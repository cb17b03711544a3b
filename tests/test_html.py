"""The HTML pages of compress --html and compare --html (issue 16), loaded from disk
by a real headless Chromium: rows rendered, every image decoded, no console error; and
their links and names (issue 21): every link a scheme-free relative URL to the right
file, whatever its name, and a page written even for names that are not UTF-8."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

import numpy as np
import pytest
from helpers import blocks, kquant, smaller_sample
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=".ci/run installs chromium")


#: Chromium's background work a page does not need (about a tenth of its CPU time).
QUIET = ("--disable-extensions", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-default-apps")  # fmt: skip


def browse(page) -> tuple[str, list[str]]:
    """The DOM of ``page`` after its scripts ran in headless Chromium, and the
    console lines it logged."""
    return browse_url(page.absolute().as_uri())


def browse_url(url: str) -> tuple[str, list[str]]:
    """Each run with a profile of its own (a browser still closing holds the default
    one's lock), and once more if the browser hangs (seen once in 5 CI runs)."""
    for attempt in (1, 2):
        with tempfile.TemporaryDirectory() as profile:
            try:
                ran = subprocess.run(
                    [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *QUIET,
                     f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                     "--virtual-time-budget=5000", "--dump-dom", url],
                    capture_output=True, text=True, timeout=60,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                if attempt == 2:
                    raise
                continue
        return ran.stdout, [line for line in ran.stderr.splitlines() if ":CONSOLE" in line]
    raise AssertionError("unreachable")


@needs_chromium
def test_the_console_check_sees_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefined_function();</script></body></html>")
    assert any("Uncaught ReferenceError" in line for line in browse(bad)[1])


def batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    smaller_sample("china.jpg", folder)
    smaller_sample("chelsea-alpha.png", folder)
    Image.fromarray(blocks(40, 60)).save(folder / "blocks.png")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


@pytest.fixture(scope="module")
def batch_page(tmp_path_factory) -> Path:
    """The HTML page of a batch of :func:`batch` with a measured ΔE2000 column; the
    tests only read it."""
    folder = tmp_path_factory.mktemp("batch")
    page = folder / "report.html"
    ran = kquant("compress", "-j", "1", batch(folder), "-k", "16", "-o", folder / "out",
                 "--html", page, "--metrics", "deltae")  # fmt: skip
    assert ran.returncode == 1, ran.stderr  # the broken file
    return page


@needs_chromium
def test_batch_page_in_a_browser(batch_page):
    page = batch_page
    text = page.read_text()
    assert "<script src" not in text and not re.search(r"""(src|href)=["']https?:""", text)
    dom, console = browse(page)
    assert console == []
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", dom.split("<tbody>")[1].split("</tbody>")[0], re.S)
    names = [re.search(r">([^<]*)</a>", row).group(1) for row in rows]
    assert len(rows) == 4 and names[0].endswith("broken.png")  # worst first: the error
    psnrs = [float(re.findall(r"<td[^>]*>([^<]*)</td>", row)[2]) for row in rows[1:]]
    assert psnrs == sorted(psnrs)  # then the lowest PSNR first
    assert re.search(r'data-images="6 6"', dom)  # 3 images x before/after, all decoded
    assert "ΔE2000" in dom and "out/china-k16.png" in dom  # measured column; linked file


@needs_chromium
def test_compare_page_in_a_browser_and_deterministic(tmp_path):
    pages = [tmp_path / "a.html", tmp_path / "b.html"]
    for page in pages:
        ran = kquant("compare", smaller_sample("coffee.png", tmp_path), "-k", "8", "--html", page)
        assert ran.returncode == 0, ran.stderr
    assert pages[0].read_bytes() == pages[1].read_bytes()
    dom, console = browse(pages[0])
    assert console == [] and 'data-images="6 6"' in dom
    assert dom.count("<tr>") == 1 + 3 and "3 results" in dom


def test_thumbnails_stay_small(tmp_path):
    from kquant.analysis.html import THUMB, thumbnail

    big = np.random.default_rng(0).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    data = thumbnail(big)
    with Image.open(__import__("io").BytesIO(data)) as im:
        assert max(im.size) == THUMB and im.format == "JPEG"
    assert len(data) < 100_000


@needs_chromium
def test_columns_sort_in_the_browser(batch_page):
    page = batch_page
    dom, console = browse_url(page.absolute().as_uri() + "#sort=6")  # by bytes in
    assert console == [] and 'class="asc"' in dom
    body = dom.split("<tbody>")[1].split("</tbody>")[0]
    cells = [re.findall(r'data-sort="([^"]*)"', row)[6]
             for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]  # fmt: skip
    sizes = [float(c) for c in cells if c]  # the broken file has no size in
    assert len(sizes) == 3 and sizes == sorted(sizes)
    assert (
        sizes
        != [
            float(c)
            for c in re.findall(  # not the page's own (worst-first) order
                r'data-sort="([^"]*)"', page.read_text().split("<tbody>")[1]
            )[6::8]
            if c
        ]
    )


# Links and names (issue 21): a file name is data, never a URL scheme or markup, and a
# name that is not UTF-8 is shown with U+FFFD but linked by its real bytes.

#: Names that break a naive link: a scheme, URL delimiters, escapes, markup.
HOSTILE = [
    "javascript:x.png",
    "javascript:alert(1).png",
    "a#b.png",
    "a?b.png",
    "100%.png",
    "%41.png",
    "sp ace.png",
    "new\nline.png",
    "\"q'<&>.png",
    "back\\slash.png",
    "ü.png",
]
NOT_UTF8 = os.fsdecode(b"bad\xff.png")


class _Links(HTMLParser):
    """The ``href`` of every ``<a>``, the ``src`` of every ``<img>``, every ``id`` and
    the text of every ``<h2>`` of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.hrefs, self.srcs, self.ids, self.captions = [], [], set(), []
        self._in_h2 = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a":
            self.hrefs.append(attrs["href"])
        elif tag == "img":
            self.srcs.append(attrs["src"])
        elif tag == "h2":
            self._in_h2 = True
            self.captions.append("")

    def handle_endtag(self, tag):
        self._in_h2 = self._in_h2 and tag != "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.captions[-1] += data


def linked_bytes(href: str, page: Path) -> bytes:
    """The path (bytes, normalized) a relative ``href`` of ``page`` points at."""
    assert urlsplit(href).scheme == "" and (href.startswith(("./", "../"))), href
    return os.path.normpath(os.path.join(os.fsencode(page.parent), unquote_to_bytes(href)))


@pytest.mark.parametrize("name", [*HOSTILE, NOT_UTF8], ids=ascii)
@pytest.mark.parametrize("where", [".", "in", "../in", "a/../in"])
def test_link_to_is_scheme_free_and_finds_the_file(tmp_path, monkeypatch, name, where):
    from kquant.analysis.html import link_to

    monkeypatch.chdir(tmp_path)
    page = Path("pages", "page.html") if where.startswith("..") else Path("page.html")
    for path in (os.path.join(where, name), tmp_path / where / name):  # relative, absolute
        href = link_to(path, page)
        assert href.isascii() and not set(href) & set("\"'<>&#? \n\\:"), href
        expected = os.path.normpath(os.fsencode(tmp_path / where / name))
        assert linked_bytes(href, (tmp_path / page)) == expected


def test_link_to_no_file_and_another_drive(monkeypatch, tmp_path):
    from kquant.analysis import html

    assert [html.link_to(p, tmp_path / "p.html") for p in (None, "", "-")] == [None] * 3

    def another_drive(*args):  # what os.path.relpath does on Windows across drives
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(html.os.path, "relpath", another_drive)
    href = html.link_to(tmp_path / "a#b.png", tmp_path / "p.html")
    assert href == (tmp_path / "a#b.png").as_uri() and href.startswith("file:///")


def test_rendered_names_are_text_and_utf8(tmp_path):
    from kquant.analysis.html import Entry, render_page

    names = [*HOSTILE, NOT_UTF8]
    entries = [Entry({"input": n, "status": "error", "error": f"{n}: broken"}) for n in names]
    text = render_page(entries, f"kquant compress {NOT_UTF8}")
    text.encode("utf-8")  # no surrogate left
    parsed = _Links(text)
    shown = [n.replace(NOT_UTF8, "bad\ufffd.png") for n in names]
    assert sorted(parsed.captions) == sorted(f"{n}: error {n}: broken" for n in shown)
    assert "<title>kquant compress bad\ufffd.png</title>" in text
    assert all(href.startswith("#img") for href in parsed.hrefs)  # no file, no link


def page_links(tmp_path: Path, names: list[str]) -> tuple[Path, _Links]:
    """``kquant compress`` of one small PNG per name (in ``tmp_path/in``, outputs in
    ``tmp_path/out``) with ``--html`` into ``tmp_path/pages``; the page and its links,
    each checked: a fragment names a section, anything else is a file of the run."""
    folder, pages = tmp_path / "in", tmp_path / "pages"
    folder.mkdir()
    pages.mkdir()
    for name in names:
        Image.fromarray(blocks(8, 8, noise=0)).save(folder / name, format="PNG")
    page = pages / "page.html"
    ran = kquant("compress", "-j", "1", *(folder / n for n in names), "-k", "4", "-o",
                 tmp_path / "out", "--html", page)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    parsed = _Links(page.read_bytes().decode("utf-8"))
    files = {os.fsencode(p) for d in (folder, tmp_path / "out") for p in d.iterdir()}
    assert len(files) == 2 * len(names)
    linked = set()
    for href in parsed.hrefs:
        assert urlsplit(href).scheme == "", href
        if href.startswith("#"):
            assert href[1:] in parsed.ids
        else:
            linked.add(linked_bytes(href, page))
    assert linked == files  # every input and output, each by its own name
    assert all(src.startswith("data:image/jpeg;base64,") for src in parsed.srcs)
    return page, parsed


def test_batch_page_links_files_with_hostile_names(tmp_path):
    page, parsed = page_links(tmp_path, HOSTILE)
    folder = str(tmp_path / "in")
    assert sorted(parsed.captions) == sorted(f"{folder}/{n}: lossless" for n in HOSTILE)
    assert 'href="../in/javascript%3Ax.png"' in page.read_text()


def test_pages_of_a_name_that_is_not_utf8(tmp_path):
    try:
        (tmp_path / NOT_UTF8).touch()
    except (OSError, UnicodeEncodeError):
        pytest.skip("this filesystem refuses names that are not UTF-8")
    page, parsed = page_links(tmp_path, [NOT_UTF8, "plain.png"])
    text = page.read_text(encoding="utf-8")
    assert 'href="../in/bad%FF.png"' in text and 'href="../out/bad%FF-k4.png"' in text
    assert f"{tmp_path}/in/bad\ufffd.png: lossless" in parsed.captions
    compared = tmp_path / "compare.html"
    ran = kquant("compare", tmp_path / "in" / NOT_UTF8, "-k", "4", "--html", compared)
    assert ran.returncode == 0, ran.stderr
    assert "bad\ufffd.png: k=4</title>" in compared.read_text(encoding="utf-8")
