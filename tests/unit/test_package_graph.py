"""The package graph stays acyclic and layered (README "Layout").

Reads every module's imports (``ast``, no import is executed) and checks two things:
each top-level package imports only the packages below it in ``MAY_IMPORT``, and no two
modules import each other, directly or through others (module-level and function-level
imports alike: a deferred import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Who may import whom. The kernel is imported by anyone and imports nothing of ours;
# the shell (``aimis``) is imported by nobody; tests and benchmarks are outside the graph.
MAY_IMPORT: dict[str, set[str]] = {
    "kernel": set(),
    "states": {"kernel"},
    "imaging": {"kernel"},
    "notifiers": {"kernel"},
    "store": {"kernel", "states", "imaging"},
    "api": {"kernel", "states", "imaging", "notifiers", "store"},
    "ui": {"kernel", "states", "imaging", "notifiers", "store", "api"},
    "flows": {"kernel", "states", "imaging", "notifiers", "store", "api"},
    "aimis": {"kernel", "states", "imaging", "notifiers", "store", "api", "ui", "flows"},
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in MAY_IMPORT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Piccolo's migration files import nothing of ours but the tables
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The modules of ours that ``name`` imports (resolved to the longest known module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets.add(stem)
            targets.update(f"{stem}.{alias.name}" for alias in node.names)
    if isinstance(tree, ast.Module) and any(
        isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test) for n in tree.body
    ):
        # imports only a type checker runs are not edges of the running program
        for n in tree.body:
            if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
                for sub in ast.walk(n):
                    if isinstance(sub, ast.ImportFrom) and sub.module:
                        targets.discard(sub.module)
                        targets.difference_update(f"{sub.module}.{a.name}" for a in sub.names)
                    elif isinstance(sub, ast.Import):
                        targets.difference_update(a.name for a in sub.names)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_each_package_imports_only_the_layers_below_it() -> None:
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in GRAPH.items()
        for target in targets
        if target.split(".")[0] != source.split(".")[0]
        and target.split(".")[0] not in MAY_IMPORT[source.split(".")[0]]
    )
    assert not wrong, "layering broken:\n" + "\n".join(wrong)


def _cycle_from(start: str) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in GRAPH[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_module_imports_itself_through_others() -> None:
    cycles = {tuple(c) for name in GRAPH if (c := _cycle_from(name))}
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in sorted(cycles))


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_the_graph_sees_every_package(package: str) -> None:
    """A check that read no module could not fail: each package must contribute modules."""
    assert any(name.split(".")[0] == package for name in MODULES)
