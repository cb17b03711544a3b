"""Fixtures shared by the tests; helper functions are in ``helpers.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import blocks
from PIL import Image


@pytest.fixture
def blocks_png(tmp_path: Path) -> Path:
    """A PNG of :func:`helpers.blocks` in a fresh folder."""
    path = tmp_path / "blocks.png"
    Image.fromarray(blocks()).save(path)
    return path
