"""Imports point one way: core <- Flower glue <- harness <- command line <- pages and benchmarks, with no circle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A package may import from packages of a lower rank only; clients and server share a rank and never meet.
RANKS = {"fedkd": 0, "clients": 1, "server": 1, "simulations": 2, "cli": 3, "pages": 4, "bench": 4}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, known: set[str]) -> set[str]:
    """First-party modules a file imports at run time (imports under ``if TYPE_CHECKING`` are skipped)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name.split(".")[0] in RANKS}


def _graph() -> dict[str, set[str]]:
    files = [p for package in RANKS for p in (ROOT / package).rglob("*.py")]
    known = {_module_name(p) for p in files}
    return {_module_name(p): _imports(ast.parse(p.read_text()), known) & known for p in files}


def test_layers_no_package_imports_a_higher_or_sibling_layer() -> None:
    upward = sorted(f"{module} imports {target}" for module, targets in _graph().items() for target in targets
                    if (a := module.split(".")[0]) != (b := target.split(".")[0]) and RANKS[b] >= RANKS[a])
    assert upward == []


def test_layers_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert circles == []


def test_layers_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # The checker itself: a core module importing the harness is reported.
    tree = ast.parse("from simulations.run import run_simulation\n")
    assert _imports(tree, {"simulations.run"}) == {"simulations.run"}
