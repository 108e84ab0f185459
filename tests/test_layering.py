"""The layering rule: nothing above ``numbaconv.ops`` reaches a kernel.

Autograd, nn, the optimizers, the Learner, the callbacks, data and the CLI get arrays from a
backend's namespace (``xp``) and run kernels only through ``numbaconv.ops`` entry points. This
test parses every module of those layers (``ast``, not a text search) and fails on an import of
``numbaconv.kernels`` (absolute, relative, ``from numbaconv import kernels``, or a string given to
``importlib.import_module``) and on any ``.kernels`` attribute (``backend.kernels.conv``).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "numbaconv"
# Everything above ops: packages are scanned recursively, single modules as they are.
ABOVE_OPS = ("autograd", "nn", "optim", "optim.py", "learner.py", "callbacks", "data", "cli")
KERNELS = "numbaconv.kernels"


def _is_kernels(module: str) -> bool:
    return module == KERNELS or module.startswith(KERNELS + ".")


def _package_of(path: pathlib.Path) -> list[str]:
    """``numbaconv.nn`` for ``numbaconv/nn/functional.py`` (and for ``nn/__init__.py``)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1]


def _resolve(node: ast.ImportFrom, package: list[str]) -> str:
    if node.level == 0:
        return node.module or ""
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*base, *([node.module] if node.module else [])])


def violations(source: str, package: list[str], filename: str = "<source>") -> list[str]:
    """Each place in ``source`` (a module of ``package``) that reaches the kernels."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if _is_kernels(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node, package)
            names = [module] + [f"{module}.{a.name}" for a in node.names]
            if any(_is_kernels(name) for name in names):
                found.append(f"{where}: from {module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr == "kernels":
            found.append(f"{where}: .kernels attribute")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _is_kernels(node.value) or node.value == "kernels":
                found.append(f"{where}: string {node.value!r}")
    return found


def _modules():
    for entry in ABOVE_OPS:
        path = PACKAGE / entry
        if path.is_dir():
            yield from sorted(path.rglob("*.py"))
        elif path.exists():
            yield path


def test_the_scanned_layers_exist():
    scanned = {p.relative_to(PACKAGE).parts[0] for p in _modules()}
    # optim is a package (optim/) or a module (optim.py): one of the two must be scanned.
    assert {"autograd", "nn", "learner.py", "callbacks", "data", "cli"} <= scanned
    assert scanned & {"optim", "optim.py"}


def test_nothing_above_ops_reaches_a_kernel():
    found = []
    for path in _modules():
        found += violations(path.read_text(), _package_of(path), str(path.relative_to(PACKAGE)))
    assert not found, "kernels reached from above ops:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "package"),
    [
        ("import numbaconv.kernels.cpu.conv", ["numbaconv", "nn"]),
        ("from numbaconv.kernels.cuda import loss", ["numbaconv", "nn"]),
        ("from numbaconv import kernels", ["numbaconv", "cli"]),
        ("from ..kernels.cpu import optim", ["numbaconv", "nn"]),
        ("from .. import kernels", ["numbaconv", "autograd"]),
        ("from .kernels import cpu", ["numbaconv"]),  # learner.py's package is numbaconv
        ("from ...kernels.cuda.loss import nll_forward", ["numbaconv", "data", "sub"]),
        ("k = _backend.CUDA.kernels.loss", ["numbaconv", "nn"]),
        ("k = backend.kernels", ["numbaconv", "optim"]),
        ("import importlib\nm = importlib.import_module('numbaconv.kernels.cpu.loss')", ["x"]),
        ("m = getattr(backend, 'kernels')", ["numbaconv", "nn"]),
    ],
)
def test_the_scan_catches_each_way_in(source, package):
    assert violations(source, package), source


@pytest.mark.parametrize(
    "source",
    [
        "from ..ops import loss as loss_ops",
        "from .._backend import xp",
        "import numbaconv.ops",
        "from numbaconv.kernelsx import y",  # a different package, not numbaconv.kernels
        "x = backend.xp.zeros(3)",
        "edge_kernels = 4",
    ],
)
def test_the_scan_lets_ops_and_namespaces_through(source):
    assert violations(source, ["numbaconv", "nn"]) == []


def test_the_scan_fails_on_a_module_that_breaks_the_rule(tmp_path, monkeypatch):
    # A copy of the package layout with one offending module added: the real test must fail.
    fake = tmp_path / "numbaconv"
    (fake / "nn").mkdir(parents=True)
    (fake / "nn" / "bad.py").write_text("from ..kernels.cpu import loss\n")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    with pytest.raises(AssertionError, match=r"nn/bad.py:1: from numbaconv.kernels.cpu"):
        test_nothing_above_ops_reaches_a_kernel()
