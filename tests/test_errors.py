"""kquant.errors: the boundary of one image's work (issue 21): what escapes kquant's
own checks is that image's error, what Pillow says about a file is a note."""

from __future__ import annotations

import warnings

import pytest
from helpers import kquant
from PIL import Image
from test_faults import odd_files

from kquant.errors import UnexpectedError, per_image


def test_an_unforeseen_exception_is_the_images_error(monkeypatch):
    monkeypatch.delenv("KQUANT_DEBUG", raising=False)
    with pytest.raises(UnexpectedError) as info, per_image("odd.tif"):
        raise TypeError("Missing dimensions\nsecond line")
    message = str(info.value)
    assert message.startswith("odd.tif: unexpected error (TypeError: Missing dimensions second")
    assert "please report" in message and "\n" not in message
    assert info.value.original == "TypeError"
    monkeypatch.setenv("KQUANT_DEBUG", "1")  # the original, with its traceback
    with pytest.raises(TypeError), per_image("odd.tif"):
        raise TypeError("Missing dimensions")


def test_kquants_own_errors_and_memory_errors_pass_as_they_are():
    from kquant.errors import ImageReadError

    with pytest.raises(ImageReadError), per_image("x.png"):
        raise ImageReadError("x.png: empty file")
    with pytest.raises(MemoryError), per_image("x.png"):
        raise MemoryError


def test_pillows_warnings_are_collected_and_others_issued_again(tmp_path):
    odd_files(tmp_path)
    with per_image(tmp_path / "warn.png") as heard, Image.open(tmp_path / "warn.png") as im:
        im.load()
    assert heard == ["Invalid APNG, will use default PNG image if possible"]
    with pytest.warns(RuntimeWarning, match="kquant's own"), per_image("x.png") as heard:
        warnings.warn("kquant's own", RuntimeWarning, stacklevel=1)
    assert heard == []


def test_a_still_image_never_warns_raw(tmp_path):
    """A file Pillow warns about: a note in the report, nothing raw on stderr."""
    odd_files(tmp_path)
    ran = kquant("compress", tmp_path / "warn.png", "-k", "4", "--json")
    assert ran.returncode == 0
    import json

    notes = json.loads(ran.stdout)["notes"]
    assert "warning: Invalid APNG, will use default PNG image if possible" in notes
    assert "UserWarning" not in ran.stderr
