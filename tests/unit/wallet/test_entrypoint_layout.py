"""The wallet's entrypoints are laid out like booking's: a thin host class composed of mixins that
take their helpers from mapping*.py and the service layer, never from the host or each other.

Read from the source (every import, including one hidden inside a function), so a cycle or a
function-local import used to dodge one fails here, not at some later import order."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENTRYPOINTS = ROOT / "services" / "wallet" / "entrypoints"
PACKAGE = "services.wallet.entrypoints"
MODULES = sorted(p.stem for p in ENTRYPOINTS.glob("*.py") if p.stem != "__init__")


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported module, imported inside a function?) for every import of `module`."""
    tree = ast.parse((ENTRYPOINTS / f"{module}.py").read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, inner))
                # `from services.wallet.entrypoints import grpc_x` imports a module too
                found.extend((f"{child.module}.{alias.name}", inner) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


def _graph() -> dict[str, set[str]]:
    names = {f"{PACKAGE}.{m}" for m in MODULES}
    return {f"{PACKAGE}.{m}": {imported for imported, _ in _imports(m) if imported in names} for m in MODULES}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def walk(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for nxt in sorted(graph[node]):
            if found := walk(nxt):
                return found
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if found := walk(node):
            return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_wallet_entrypoints():
    assert _cycle(_graph()) is None


@pytest.mark.parametrize("module", MODULES)
def test_no_function_local_imports_of_project_code(module):
    hidden = [
        name for name, nested in _imports(module) if nested and name.split(".")[0] in ("services", "kit")
    ]
    assert hidden == [], f"{module} imports {hidden} inside a function"


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("grpc_") and m != "grpc_servicer"])
def test_mixins_import_only_mapping_and_the_service_layer(module):
    wallet = [name for name, _ in _imports(module) if name.startswith("services.wallet.")]
    allowed = (f"{PACKAGE}.mapping", "services.wallet.service_layer", "services.wallet.domain")
    assert [name for name in wallet if not name.startswith(allowed)] == []
    assert not any(name.startswith("sqlalchemy") for name, _ in _imports(module))


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("mapping")])
def test_mapping_imports_no_rpc_module(module):
    entry = [name for name, _ in _imports(module) if name.startswith(f"{PACKAGE}.")]
    assert all(name.startswith(f"{PACKAGE}.mapping") for name in entry), entry


def test_jobs_run_no_sql_themselves():
    imported = [name for name, _ in _imports("jobs")]
    assert not [
        n for n in imported if n.startswith("sqlalchemy") and not n.startswith("sqlalchemy.ext.asyncio")
    ]
    assert not [n for n in imported if n.startswith("services.wallet.adapters.tables")]


def test_each_entrypoint_module_imports_on_its_own():
    """Each module imported first, with no other entrypoint module loaded: an import that only
    works after another module is loaded (the symptom of a cycle) fails here. One interpreter
    for all of them, apart from this test run's modules; third-party modules stay loaded."""
    code = """
import importlib, sys
for module in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.startswith("services.wallet.entrypoints")]:
        del sys.modules[loaded]
    importlib.import_module(module)
"""
    done = subprocess.run(
        [sys.executable, "-c", code, *(f"{PACKAGE}.{m}" for m in MODULES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
