"""`crypto` does no I/O: no files, environment, network, clock, logging or printing."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import crypto

SOURCES = sorted(Path(crypto.__file__).parent.glob("*.py"))
FORBIDDEN_MODULES = {
    "os",
    "io",
    "pathlib",
    "shutil",
    "socket",
    "subprocess",
    "time",
    "datetime",
    "logging",
    "asyncio",
    "urllib",
    "http",
}
FORBIDDEN_CALLS = {"open", "print", "input"}


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_module_imports_nothing_that_does_io(source: Path) -> None:
    tree = ast.parse(source.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            imported.add(node.module.split(".")[0])

    assert imported & FORBIDDEN_MODULES == set()


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_module_calls_no_io_builtin(source: Path) -> None:
    tree = ast.parse(source.read_text())
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}

    assert called & FORBIDDEN_CALLS == set()
