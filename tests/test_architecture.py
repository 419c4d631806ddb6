"""The layers of docs/architecture.md, checked on the source: a change that crosses one fails here.

- `consent/api` (HTTP) reaches the database only through `consent/service`, never `consent.store`;
- `consent/cli` reads no table itself: it calls the services the API calls, and takes from
  `consent/store` only the machinery (the embedded server, migrations, database roles, connections, notifications);
- `consent/service`, `consent/store`, `consent/jobs` and `consent/web` know nothing of HTTP (no
  litestar), and no service module handles driver records (no asyncpg: the store returns typed rows);
- `policies` and `crypto` are pure libraries: they import nothing of `consent` and do no I/O
  (no files, environment, network, clock, logging or printing);
- no import cycle among the project's modules, and no module over 400 lines.

Imports are read with `ast`, so nothing here runs the code it checks. Imports under
`if TYPE_CHECKING:` are left out: they never run, and annotations may name any layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("consent", "crypto", "policies")
MAX_LINES = 400
# What the CLI may take from the store: starting and reaching a database, not reading tables.
STORE_MACHINERY = frozenset({"embedded", "migrate", "pool", "notifications", "roles"})

# What a pure package may not import, and the calls that would read the clock or do I/O anyway.
IO_MODULES = frozenset(
    {"os", "pathlib", "shutil", "socket", "subprocess", "time", "logging", "asyncio", "http", "urllib.request", "sys"}
)
PURE_FORBIDDEN = {
    # crypto takes bytes and returns bytes: not even datetime or io.
    "crypto": IO_MODULES | {"io", "datetime", "urllib"},
    # policies works on dates (taking `now` as an argument) and renders CSV into memory.
    "policies": IO_MODULES,
}
IO_BUILTINS = frozenset({"open", "print", "input", "breakpoint"})
CLOCK_READS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter"})


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not _is_type_checking_block(child))


def _imports(path: Path) -> set[str]:
    """The absolute names of the modules `path` imports when it runs (`from a import b` gives a and a.b)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            found.add(origin)
            found |= {f"{origin}.{alias.name}" for alias in node.names}
    return found


def _reaches(imported: set[str], target: str) -> bool:
    return any(name == target or name.startswith(f"{target}.") for name in imported)


def _where(package: str) -> list[Path]:
    return [path for path in _sources("consent") if path.relative_to(ROOT / "consent").parts[0] == package]


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("source", _where("api"), ids=_label)
def test_the_http_layer_reaches_the_database_only_through_services(source: Path) -> None:
    assert not _reaches(_imports(source), "consent.store")
    assert not _reaches(_imports(source), "asyncpg")


@pytest.mark.parametrize("source", _where("cli"), ids=_label)
def test_the_cli_reads_tables_only_through_services(source: Path) -> None:
    from_store = {name.split(".")[2] for name in _imports(source) if name.startswith("consent.store.")}
    assert from_store <= STORE_MACHINERY


@pytest.mark.parametrize("source", _where("service") + _where("store") + _where("jobs") + _where("web"), ids=_label)
def test_services_store_jobs_and_static_files_know_nothing_of_http(source: Path) -> None:
    assert not _reaches(_imports(source), "litestar")
    assert not _reaches(_imports(source), "consent.api")


@pytest.mark.parametrize("source", _where("service"), ids=_label)
def test_services_handle_typed_rows_not_driver_records(source: Path) -> None:
    assert not _reaches(_imports(source), "asyncpg")


@pytest.mark.parametrize("source", _where("store"), ids=_label)
def test_the_store_calls_no_service(source: Path) -> None:
    assert not _reaches(_imports(source), "consent.service")


@pytest.mark.parametrize("source", _sources("crypto") + _sources("policies"), ids=_label)
def test_pure_packages_import_nothing_of_the_service_and_nothing_that_does_io(source: Path) -> None:
    package = source.relative_to(ROOT).parts[0]
    imported = _imports(source)
    assert not _reaches(imported, "consent")
    assert {
        name for name in imported if any(name == m or name.startswith(f"{m}.") for m in PURE_FORBIDDEN[package])
    } == set()


@pytest.mark.parametrize("source", _sources("crypto") + _sources("policies"), ids=_label)
def test_pure_packages_call_no_io_builtin_and_read_no_clock(source: Path) -> None:
    calls = [node for node in ast.walk(ast.parse(source.read_text())) if isinstance(node, ast.Call)]
    builtins = {call.func.id for call in calls if isinstance(call.func, ast.Name)}
    methods = {call.func.attr for call in calls if isinstance(call.func, ast.Attribute)}
    assert builtins & IO_BUILTINS == set()
    assert methods & CLOCK_READS == set()


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for package in PACKAGES for path in _sources(package)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        # `from a import b` names a.b when b is a module, else something defined in a.
        graph[name] = {m if m in modules else m.rpartition(".")[0] for m in _imports(path)} & modules.keys()
        graph[name].discard(name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_no_import_cycle() -> None:
    # A package's __init__ re-exporting its own modules is not a cycle of layers.
    graph = {name: {m for m in deps if not name.startswith(f"{m}.")} for name, deps in _graph().items()}
    assert _cycle(graph) is None


@pytest.mark.parametrize("source", [s for p in PACKAGES for s in _sources(p)], ids=_label)
def test_no_module_is_over_400_lines(source: Path) -> None:
    assert len(source.read_text().splitlines()) <= MAX_LINES


def test_the_checks_above_see_a_violation() -> None:
    """The import reader finds relative, aliased and nested imports, and skips TYPE_CHECKING blocks."""
    sample = ROOT / "consent" / "api" / "check.py"
    assert _reaches(_imports(sample), "consent.service")
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import litestar\ndef f():\n    import asyncpg\n"
    )
    names = {alias.name for node in _runtime_nodes(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert names == {"asyncpg"}
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
