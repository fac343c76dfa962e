"""The import graph keeps its layers: analyzers <- server <- finetune, and no file cycles.

Every import statement counts, function-local ones too (a lazy import is still a
dependency): the source files are parsed, not imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"analyzers": "codeward.analyzers", "server": "codeward.server",
            "finetune": "codeward.finetune"}
LAYER = {"codeward.analyzers": 0, "codeward.server": 1, "codeward.finetune": 2}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    parts[0] = PACKAGES[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    out = {}
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "default_model" not in path.parts:
                out[module_name(path)] = path
    return out


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                out.update(id(n) for n in ast.walk(stmt))
    return out


def imports(name: str, path: Path, typing: bool = True) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, relative ones resolved;
    ``typing=False`` leaves out imports made only for type checkers."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    tree = ast.parse(path.read_text("utf-8"), str(path))
    skip = set() if typing else _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # ``from . import x`` / ``from pkg import module`` import the module x
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    for top in LAYER:
        if module == top or module.startswith(top + "."):
            return top
    return None


def upward_imports(frm: str, to: str) -> list[str]:
    bad = []
    mods = modules()
    for name, path in mods.items():
        if layer_of(name) != frm:
            continue
        for target, line in imports(name, path):
            if layer_of(target) == to and (target in mods or target == to):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return sorted(set(bad))


def test_the_walk_sees_lazy_relative_and_absolute_imports(tmp_path: Path) -> None:
    src = ("from . import context\nfrom .engine import Engine\n"
           "def f():\n    from codeward.finetune import registry\n    import codeward.server.x\n")
    path = tmp_path / "probe.py"
    path.write_text(src + "if TYPE_CHECKING:\n    from .lsp import CodewardServer\n")
    found = {t for t, _ in imports("codeward.server.probe", path)}
    assert "codeward.server.lsp" in found
    assert "codeward.server.lsp" not in {t for t, _ in imports("codeward.server.probe", path,
                                                              typing=False)}
    assert {"codeward.server.context", "codeward.server.engine",
            "codeward.finetune.registry", "codeward.server.x"} <= found


def test_analyzers_import_nothing_of_server() -> None:
    assert upward_imports("codeward.analyzers", "codeward.server") == []


def test_analyzers_import_nothing_of_finetune() -> None:
    assert upward_imports("codeward.analyzers", "codeward.finetune") == []


def test_server_imports_nothing_of_finetune() -> None:
    assert upward_imports("codeward.server", "codeward.finetune") == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in ``graph`` (a list of nodes, first repeated last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def file_graph() -> dict[str, set[str]]:
    """Module -> modules of the same layer it imports at run time (a package's ``__init__``
    imported only as the way to a submodule does not count; ``if TYPE_CHECKING:`` imports
    do not either: a type annotation pointing back is not a cycle)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for target, _ in imports(name, path, typing=False):
            if target in mods and target != name and layer_of(target) == layer_of(name):
                deps.add(target)
        # ``from .pkg import mod`` also lists ``pkg``: drop a package when one of its
        # submodules is what is imported
        graph[name] = {d for d in deps if not any(o.startswith(d + ".") for o in deps)}
    return graph


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


@pytest.mark.parametrize("layer", list(LAYER))
def test_no_import_cycle_between_files(layer: str) -> None:
    graph = {k: v for k, v in file_graph().items() if layer_of(k) == layer}
    assert _cycle(graph) is None
