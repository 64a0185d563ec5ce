"""The package's layers: no import cycles, no project imports hidden inside functions."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "cvae_pyro"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def imported_modules(module: str, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The package modules an import statement names."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names} & known
    base = module.split(".")
    is_package = f"{module}.__init__" in known or any(k.startswith(f"{module}.") for k in known)
    if node.level:
        keep = len(base) - node.level + (1 if is_package else 0)
        target = ".".join(base[:keep] + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    names = {target} | {f"{target}.{a.name}" for a in node.names}
    return names & known


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module -> modules imported at module level; and every import inside a function."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    edges, hidden = {}, []
    for module, path in paths.items():
        tree = ast.parse(path.read_text())
        edges[module] = set()
        for node, in_function in _imports(tree):
            targets = imported_modules(module, node, known) - {module}
            if not in_function:  # module level, also inside a module-level try or if
                edges[module] |= targets
            elif targets:
                hidden.append(f"{path.name}:{node.lineno} imports {sorted(targets)}")
    return edges, hidden


def _imports(node: ast.AST, in_function: bool = False):
    """Every import statement below ``node``, and whether it sits inside a function."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        inside = in_function or isinstance(
            child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
        )
        yield from _imports(child, inside)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, or None."""
    state: dict[str, int] = {}

    def visit(module: str, stack: list[str]) -> list[str] | None:
        state[module] = 1
        for other in sorted(edges.get(module, ())):
            if state.get(other) == 1:
                return stack[stack.index(other) :] + [other]
            if other not in state and (cycle := visit(other, stack + [other])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module, [module])):
            return cycle
    return None


def test_no_import_cycles():
    edges, _ = import_graph()
    assert find_cycle(edges) is None


def test_no_project_imports_inside_functions():
    _, hidden = import_graph()
    assert hidden == []


def test_the_checker_sees_cycles_and_hidden_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = "import os\n\ndef f():\n    from .models import CVAE\n"
    tree = ast.parse(source)
    inner = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)][0]
    known = {"cvae_pyro.models", "cvae_pyro.figures"}
    assert imported_modules("cvae_pyro.figures", inner, known) == {"cvae_pyro.models"}
    source = (
        "try:\n    import a\nexcept E:\n    pass\n\nclass C:\n    def f(self):\n        import b\n"
    )
    found = [(n.names[0].name, inside) for n, inside in _imports(ast.parse(source))]
    assert found == [("a", False), ("b", True)]


def test_library_never_imports_the_command_line():
    edges, _ = import_graph()
    library = [m for m in edges if not m.startswith("cvae_pyro.cli")]
    shims = {f"cvae_pyro.{c}" for c in ("train", "evaluate", "reproduce", "sample", "complete")}
    for module in set(library) - shims:
        assert not {e for e in edges[module] if e.startswith("cvae_pyro.cli")}, module
