"""The package's layers: no import cycles, no project imports hidden inside functions."""

import ast
import os
import re
import subprocess
import sys
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


ENTRY_POINTS = {f"cvae_pyro.{m}" for m in ("train", "evaluate", "reproduce", "sample", "complete")}


def part(module: str) -> str:
    """The folder a module sits in: "paper" (the top of the package), "beyond" or "cli"."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in ("beyond", "cli")):
        return parts[1]
    return "cli" if module in ENTRY_POINTS or module == "cvae_pyro" else "paper"


#: What each folder may import: the paper only itself; beyond the paper also itself;
#: the command line anything.
MAY_IMPORT = {"paper": {"paper"}, "beyond": {"paper", "beyond"}, "cli": {"paper", "beyond", "cli"}}


def layer_violations(edges: dict[str, set[str]]) -> dict[str, list[str]]:
    """Module -> the modules it imports that its folder may not."""
    found = {}
    for module, imported in edges.items():
        wrong = sorted(m for m in imported if part(m) not in MAY_IMPORT[part(module)])
        if wrong:
            found[module] = wrong
    return found


def test_the_paper_imports_only_itself_and_beyond_no_command_line():
    edges, _ = import_graph()
    assert {part(m) for m in edges} == {"paper", "beyond", "cli"}
    paper = {m for m in edges if part(m) == "paper"}
    assert {"cvae_pyro.models", "cvae_pyro.fit", "cvae_pyro.estimators"} <= paper
    assert layer_violations(edges) == {}


def test_the_layer_check_sees_a_wrong_import():
    edges = {
        "cvae_pyro.models": {"cvae_pyro.cli.files"},
        "cvae_pyro.beyond.plots": {"cvae_pyro.models", "cvae_pyro.cli.files"},
        "cvae_pyro.cli.commands": {"cvae_pyro.beyond.plots", "cvae_pyro.models"},
        "cvae_pyro.train": {"cvae_pyro.cli"},
    }
    assert layer_violations(edges) == {
        "cvae_pyro.models": ["cvae_pyro.cli.files"],
        "cvae_pyro.beyond.plots": ["cvae_pyro.cli.files"],
    }


#: Where a condition's name may be compared: the conditions themselves, the settings and
#: the command line. Everywhere else asks the condition's class (conditions.condition_type).
CONDITION_NAME_HOMES = {
    "cvae_pyro.conditions",
    "cvae_pyro.cli.config",
    "cvae_pyro.cli",
}
CONDITION_NAMES = {"quadrant", "label", "mask"}


def condition_name_comparisons(tree: ast.AST) -> list[int]:
    """Lines that compare something with a condition's name (``== "mask"``, ``in ("label",)``)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            values = [node.left, *node.comparators]
            for value in values:
                strings = [value] if isinstance(value, ast.Constant) else []
                if isinstance(value, ast.Tuple | ast.List | ast.Set):
                    strings = [v for v in value.elts if isinstance(v, ast.Constant)]
                if any(s.value in CONDITION_NAMES for s in strings):
                    lines.append(node.lineno)
    return lines


def test_condition_names_are_compared_only_where_conditions_live():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        module = module_name(path)
        if module not in CONDITION_NAME_HOMES:
            lines = condition_name_comparisons(ast.parse(path.read_text()))
            if lines:
                found[module] = lines
    assert found == {}
    probe = ast.parse('if cfg.condition == "mask":\n    pass\nx = kind in ("label", "cvae")\n')
    assert condition_name_comparisons(probe) == [1, 3]


HELP_PROBE = """
import sys
from cvae_pyro import cli
print("torch loaded:", "torch" in sys.modules)
for argv in (["--help"], ["--version"], ["--quadrants", "7"]):
    try:
        cli.train(argv)
    except SystemExit as exit:
        print("exit", exit.code)
"""


def test_help_version_and_bad_arguments_answer_at_once():
    """The command line's entry loads no torch (the OpenMP spin is set before it loads)."""
    proc = subprocess.run(
        [sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("exit 0") == 2 and "exit 2" in proc.stdout
    assert "usage: python -m cvae_pyro.train" in proc.stdout
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    version = re.search(r'^version = "(.+)"$', pyproject, re.M).group(1)
    assert f"cvae_pyro {version}\n" in proc.stdout
    assert "torch loaded: False" in proc.stdout


def test_importing_the_package_changes_nothing_in_the_process():
    probe = (
        "import os, signal, sys\n"
        "before = (dict(os.environ), signal.getsignal(signal.SIGINT))\n"
        "import cvae_pyro, cvae_pyro.cli.experiment, cvae_pyro.cli\n"
        "print(before == (dict(os.environ), signal.getsignal(signal.SIGINT)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    proc = subprocess.run(
        [sys.executable, "-c", probe, "-m"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.stdout.strip() == "True", proc.stderr
