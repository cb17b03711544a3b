"""The HTML pages of compress --html and compare --html (issue 16), loaded from disk
by a real headless Chromium: rows rendered, every image decoded, no console error."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from helpers import SAMPLES, blocks, kquant
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=".ci/run installs chromium")


def browse(page) -> tuple[str, list[str]]:
    """The DOM of ``page`` after its scripts ran in headless Chromium, and the
    console lines it logged."""
    return browse_url(page.absolute().as_uri())


def browse_url(url: str) -> tuple[str, list[str]]:
    ran = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return ran.stdout, [line for line in ran.stderr.splitlines() if ":CONSOLE" in line]


@needs_chromium
def test_the_console_check_sees_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefined_function();</script></body></html>")
    assert any("Uncaught ReferenceError" in line for line in browse(bad)[1])


def batch(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES / "china.jpg", folder)
    shutil.copy(SAMPLES / "chelsea-alpha.png", folder)
    Image.fromarray(blocks(40, 60)).save(folder / "blocks.png")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


@needs_chromium
def test_batch_page_in_a_browser(tmp_path):
    page = tmp_path / "report.html"
    ran = kquant("compress", batch(tmp_path), "-k", "16", "-o", tmp_path / "out",
                 "--html", page, "--metrics", "deltae")  # fmt: skip
    assert ran.returncode == 1  # the broken file
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
        ran = kquant("compare", SAMPLES / "coffee.png", "-k", "8", "--html", page)
        assert ran.returncode == 0, ran.stderr
    assert pages[0].read_bytes() == pages[1].read_bytes()
    dom, console = browse(pages[0])
    assert console == [] and 'data-images="6 6"' in dom
    assert dom.count("<tr>") == 1 + 3 and "3 results" in dom


def test_thumbnails_stay_small(tmp_path):
    from kquant.html import THUMB, thumbnail

    big = np.random.default_rng(0).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    data = thumbnail(big)
    with Image.open(__import__("io").BytesIO(data)) as im:
        assert max(im.size) == THUMB and im.format == "JPEG"
    assert len(data) < 100_000


@needs_chromium
def test_columns_sort_in_the_browser(tmp_path):
    page = tmp_path / "report.html"
    ran = kquant("compress", batch(tmp_path), "-k", "16", "-o", tmp_path / "out", "--html", page)
    assert ran.returncode == 1
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
