"""The shape of the code: the library never imports the command line's libraries, no
module imports another that imports it back, the public names are there, and the
command line's defaults are the library's."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SAMPLES, kquant
from PIL import Image

import kquant as kq
from kquant.cli import cli
from kquant.settings import CompressSettings, FitOptions

PACKAGE = Path(kq.__file__).resolve().parent
README = PACKAGE.parent / "README.md"
LIBRARY = PACKAGE.parent / "docs" / "library.md"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))


def _top_level_imports(path: Path) -> set[str]:
    """kquant modules imported by the module-level statements of ``path`` (not in
    functions, not under ``if TYPE_CHECKING:``)."""
    found: set[str] = set()

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return {name for name in found if name in MODULES}


def test_no_import_circle_among_kquant_modules():
    graph = {
        _module_name(p): _top_level_imports(p) - {_module_name(p)} for p in PACKAGE.rglob("*.py")
    }
    state: dict[str, str] = {}

    def walk(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if target not in state:
                walk(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    # the check sees real edges: the group imports the commands, they the options
    assert "kquant.cli.compress" in graph["kquant.cli.group"]
    assert "kquant.cli.options" in graph["kquant.cli.compress"]


#: The layers, lowest first (docs/DESIGN.md): a module's module-level imports reach
#: its own layer and those below, never one above.
LAYERS = (
    "kquant", "kquant.core", "kquant.io", "kquant.run", "kquant.analysis", "kquant.server",
    "kquant.cli",
)  # fmt: skip


def _layer(module: str) -> int:
    """The layer of a module: its subpackage's place in LAYERS (the top-level
    modules, defaults, errors, settings and stages, are the lowest)."""
    parts = module.split(".")
    package = ".".join(parts[:2]) if len(parts) > 2 else "kquant"
    if module in LAYERS[1:]:  # a subpackage's __init__
        package = module
    return LAYERS.index(package)


def test_imports_go_down_the_layers_only():
    """core < io < run < analysis < cli: the core never reaches files, files never a
    run, the runs never the analysis commands (checked on module-level imports; a
    function may import upward for a convenience, as Quantized.to_image does)."""
    up = [
        (module, target)
        for p in PACKAGE.rglob("*.py")
        if (module := _module_name(p)) != "kquant.__main__" and module != "kquant"
        for target in _top_level_imports(p)
        if _layer(target) > _layer(module)
    ]
    assert not up, up
    # the check sees real edges across layers
    graph = {_module_name(p): _top_level_imports(p) for p in PACKAGE.rglob("*.py")}
    assert "kquant.core.fit" in graph["kquant.io.animation"]
    assert "kquant.io.images" in graph["kquant.run.compress"]


#: Lines a function may take, docstring and signature included (issue 24: a function a
#: reader holds in one look).
MAX_FUNCTION_LINES = 81


def test_no_function_is_longer_than_a_reader_holds_in_one_look():
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} "
        f"({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "split these: " + ", ".join(long)


def test_library_never_imports_click_or_tqdm():
    library = [m for m in MODULES if not m.startswith("kquant.cli") and m != "kquant.__main__"]
    assert "kquant.run.compress" in library and "kquant.run.batch" in library
    code = (
        "import importlib, sys\n"
        f"for name in {library!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('click', 'tqdm') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_every_public_name_resolves_and_the_readme_uses_only_those():
    for name in kq.__all__:
        assert getattr(kq, name) is not None
    assert {"FitOptions", "prepare", "quantize_to_target", "CompressSettings"} <= set(kq.__all__)
    used = set(re.findall(r"\bkquant\.([A-Za-z_]+)\(", README.read_text() + LIBRARY.read_text()))
    assert used and used <= set(kq.__all__), used - set(kq.__all__)


def _parsed_defaults(command: str, *args: str) -> dict:
    """The values the command line would hand a command run with no options."""
    ctx = cli.commands[command].make_context(command, list(args))
    return ctx.params


@pytest.mark.parametrize("command", ["compress", "compare", "palette", "sweep"])
def test_command_line_defaults_are_the_librarys(command, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    params = _parsed_defaults(command, str(image))
    fit = FitOptions()
    for field in dataclasses.fields(FitOptions):
        if field.name in params:
            assert params[field.name] == getattr(fit, field.name), field.name
    assert {"sample", "n_init", "max_iter", "tol", "seed", "space", "max_pixels"} <= set(params)
    if command == "compress":
        settings = CompressSettings()
        for field in dataclasses.fields(CompressSettings):
            if field.name not in ("fit", "palette", "whole_palette"):  # by --shared-palette
                assert params[field.name] == getattr(settings, field.name), field.name
        assert params["method"] == fit.method and params["palette"] is None


def test_help_shows_the_library_defaults():
    text = kquant("compress", "--help-all").stdout
    fit = FitOptions()
    for flag, value in [("--max-iter", fit.max_iter), ("--tol", fit.tol), ("--seed", fit.seed),
                        ("--colors", CompressSettings().k)]:  # fmt: skip
        start = re.search(rf"^ +(?:-\w, )?{flag}\b", text, re.MULTILINE).start()
        option = " ".join(text[start : start + 400].split())
        assert option.split(" [default: ")[1].startswith(f"{value}]"), flag


def test_the_library_example_runs(tmp_path, monkeypatch):
    """The Python example of docs/library.md, as written, on a sample image copied under
    the names it uses."""
    block = LIBRARY.read_text().split("```python")[1]
    code = block.split("```")[0]
    small = kq.load_image(SAMPLES / "china.jpg").pixels[::4, ::4]
    for name in ("photo.jpg", "a.jpg", "b.jpg"):
        Image.fromarray(small).save(tmp_path / name, quality=95)
    (tmp_path / "b.png").write_bytes(b"replaced by the example")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/library.md", "exec"), {})
    for name in ("photo-k64.png", "out.png", "a.png", "b.png", "small/a-k32.png",
                 "small/b-k32.png"):  # fmt: skip
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG"


def test_an_installed_kquant_ships_every_package_and_the_client_imports_little():
    """pyproject.toml lists every kquant package (a package left out is missing from
    a non-editable install: ``pip install .`` shipped no kquant.server, so the
    ``kquant`` command failed); and the console script's modules import nothing a
    call would pay for (issue 25: each of socket, signal, json, typing, pathlib,
    dataclasses cost the client 3-10 ms of a 35 ms call)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {_module_name(p.parent / "__init__.py") for p in PACKAGE.rglob("__init__.py")}
    assert listed == on_disk
    code = (
        "import sys; before = set(sys.modules); import kquant.server.client; "
        "from kquant.server import identity, place, wire; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    ran = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)  # fmt: skip
    added = set(ran.stdout.split())
    heavy = {"socket", "signal", "json", "typing", "pathlib", "dataclasses", "hashlib",
             "contextlib", "enum", "re", "numpy", "click"}  # fmt: skip
    assert not added & heavy, added & heavy
