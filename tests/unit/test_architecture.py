"""The shape of the code: rag/ is the core and imports no other package of ours; no import circles anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rag", "ingest", "ui", "eval")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module → the project modules it imports (at any level of the file, lazy imports included)."""
    modules = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != name:
                    found.add(t)
        graph[name] = found
    return graph


def test_rag_imports_none_of_ingest_ui_or_eval() -> None:
    for module, deps in _imports().items():
        if module.split(".")[0] == "rag":
            assert not {d for d in deps if d.split(".")[0] != "rag"}, module


def test_ingest_does_not_import_ui_or_eval_and_eval_not_ui() -> None:
    for module, deps in _imports().items():
        top = module.split(".")[0]
        banned = {"ingest": {"ui", "eval"}, "eval": {"ui"}}.get(top, set())
        assert not {d for d in deps if d.split(".")[0] in banned}, module


def test_no_import_circles_between_modules() -> None:
    graph = _imports()
    # a package's __init__ re-exporting its modules is not a circle with them
    edges = {m: {d for d in deps if not (m.startswith(d + ".") or d.startswith(m + "."))} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in edges.get(m, ()):
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " → ".join([*stack[stack.index(d):], d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
