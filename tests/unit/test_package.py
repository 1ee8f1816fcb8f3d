"""The package's shape: a cheap ``import clipmend``, no import cycles, the core apart from the demo."""

import ast
import subprocess
import sys
from pathlib import Path

import clipmend

SRC = Path(clipmend.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each clipmend module's clipmend imports, at module level or inside functions."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name and t != "clipmend")
        graph[name] = edges
    return graph


def test_import_clipmend_is_cheap():
    code = "import clipmend, sys; assert 'torch' not in sys.modules, 'torch'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_core_never_imports_the_demo():
    offenders = {m: sorted(e for e in edges if e.startswith("clipmend.demo"))
                 for m, edges in import_graph().items() if not m.startswith("clipmend.demo")}
    assert {m: e for m, e in offenders.items() if e} == {}


def test_the_demo_data_is_package_data():
    from clipmend.demo.fmnist import DEFAULT_SUBSET_PATH

    assert DEFAULT_SUBSET_PATH.is_file()
    assert SRC in DEFAULT_SUBSET_PATH.parents
