"""Output file names: the ``--name`` templates and the default names.

A template names the output of one input with the fields ``{stem}`` (the input's name
without suffix), ``{ext}`` (its suffix, without the dot, lower case), ``{k}`` (the
number of colors: ``-k``, the palette's size with a given palette, or the k chosen for
a quality target) and ``{method}``. Only those fields are accepted, with no format
specs, conversions or attribute access, so a name is always a plain file name.

The default name tells apart the settings that change the picture, so that trying
them one after another does not collide: ``{stem}-k{k}.png`` for the defaults, with
the method when it is not k-means (``-{method}``), then the space when it is not the
weighted one (``-rgb``, ``-lab``), the dithering when it is not Floyd-Steinberg at
full strength (``-nodither``, ``-adaptive``, ``-d0.5`` for a strength) and the seed
when it is not 0 (``-s1``), as pngquant's ``-fs8``/``-or8`` tell its dithering apart
(:func:`name_marks`). The k-means tuning options and kept colors are not marked.

>>> from pathlib import Path
>>> render(default_template("kmeans"), Path("shots/x.jpg"), k=16, method="kmeans")
'x-k16.png'
>>> render(default_template("random"), Path("x.jpg"), k=16, method="random")
'x-k16-random.png'
>>> marks = name_marks(space="rgb", dither="none", strength=1.0)
>>> render(default_template("kmeans", marks), Path("x.jpg"), k=16, method="kmeans")
'x-k16-rgb-nodither.png'
>>> render("{stem:>9}.png", Path("x.jpg"), k=16, method="kmeans")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
kquant.errors.UsageError: bad name template '{stem:>9}.png': '{stem:>9}' has a format spec; ...
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from pathlib import Path

from kquant.defaults import (
    DEFAULT_DITHER,
    DEFAULT_DITHER_STRENGTH,
    DEFAULT_METHOD,
    DEFAULT_SEED,
    DEFAULT_SPACE,
    DEFAULT_TEMPLATE,
)
from kquant.errors import UsageError

__all__ = [
    "FIELDS",
    "OutputName",
    "default_name_stem",
    "default_template",
    "name_marks",
    "render",
    "uses_k",
]

#: The fields a template may use.
FIELDS = ("stem", "ext", "k", "method")
_HELP = ", ".join(f"{{{name}}}" for name in FIELDS)


def default_template(method: str, marks: tuple[str, ...] = ()) -> str:
    """The default name template for ``method`` and the :func:`name_marks` of the
    other settings: ``{stem}-k{k}.png`` for the defaults, ``-{method}`` for another
    method, then ``-<mark>`` for each mark."""
    extra = "" if method == DEFAULT_METHOD else "-{method}"
    return DEFAULT_TEMPLATE.replace(".png", extra + "".join(f"-{m}" for m in marks) + ".png")


#: A name :func:`default_template` gives: the input's stem, ``-k<K>``, marks, ``.png``.
_DEFAULT_NAME = re.compile(r"(?P<stem>.+)-k\d+(?:-[a-z0-9.]+)*\.png")


def default_name_stem(name: str) -> str | None:
    """The input stem of a file name that has the shape of a default output name, or
    None: an earlier run's output is told from its input this way.

    >>> default_name_stem("x-k16-rgb-nodither.png"), default_name_stem("x.png")
    ('x', None)
    """
    found = _DEFAULT_NAME.fullmatch(name)
    return None if found is None else found.group("stem")


def name_marks(
    *, space: str, dither: str, strength: float, seed: int = DEFAULT_SEED, runs: bool = False
) -> tuple[str, ...]:
    """What a default name adds for settings that change the pixels and are not the
    defaults: the space (``rgb``, ``lab``), the dithering (``nodither``,
    ``adaptive``), a strength below 1 (``d0.5``), continued runs (``runs``:
    ``--rate-aware``) and the seed (``s1``: random codebooks of several seeds side by
    side). The k-means tuning options (``--sample``, ``--init``, ``--n-init``,
    ``--max-iter``, ``--tol``) and kept colors are not marked: they refine the same
    fit; name such runs with ``--name``."""
    marks = [] if space == DEFAULT_SPACE else [space]
    if dither == "none" or strength == 0:
        marks.append("nodither")
    else:
        if dither != DEFAULT_DITHER:
            marks.append(dither)
        if strength != DEFAULT_DITHER_STRENGTH:
            marks.append(f"d{strength:g}")
    if runs:
        marks.append("runs")
    if seed != DEFAULT_SEED:
        marks.append(f"s{seed}")
    return tuple(marks)


def _check(template: str) -> list[str]:
    """The fields ``template`` uses; refuse anything but plain known fields."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(f"bad name template {template!r} ({exc}); use {_HELP}",
                         params=("template",)) from None  # fmt: skip
    used = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in FIELDS:
            raise UsageError(f"bad name template {template!r}: unknown field {{{name}}}; "
                             f"use {_HELP}", params=("template",))  # fmt: skip
        if spec or conversion:
            raise UsageError(
                f"bad name template {template!r}: '{{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}' has a format spec; use {_HELP}",
                params=("template",),
            )
        used.append(name)
    return used


def uses_k(template: str) -> bool:
    """Whether names made with ``template`` depend on k."""
    return "k" in _check(template)


def render(template: str, path: Path, *, k: int | str, method: str) -> str:
    """The output file name for input ``path``.

    Raises
    ------
    UsageError
        A template with other fields, format specs, or that does not give a file
        name (empty, or with a folder separator).
    """
    _check(template)
    name = template.format(stem=path.stem, ext=path.suffix.lower().lstrip("."), k=k,
                           method=method)  # fmt: skip
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise UsageError(f"name template {template!r} must give a file name, got {name!r}",
                         params=("template",))  # fmt: skip
    return name


@dataclass(frozen=True)
class OutputName:
    """An output path that depends on the k chosen by a quality target: ``folder /
    render(template, input, k=k, method=method)``. Called with k, it gives the path
    (:func:`kquant.compress_file` accepts it as its output)."""

    folder: Path
    template: str
    input: Path
    method: str

    def __call__(self, k: int) -> Path:
        return self.folder / render(self.template, self.input, k=k, method=self.method)
