"""Code lines of the package by part: the paper, beyond the paper, the machinery.

A code line is a line with a token that is not a comment, and not inside a docstring
(blank lines, comments and docstrings are not counted). The paper is the modules at the
top of ``cvae_pyro/`` but the five commands' entry points; beyond the paper is
``cvae_pyro/beyond/``; the machinery is ``cvae_pyro/cli/``, the entry points and the
package's ``__init__`` and ``__main__``.

    python tests/code_lines.py            # a table by part and module
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cvae_pyro"
ENTRY_POINTS = {"train", "evaluate", "reproduce", "sample", "complete", "__init__", "__main__"}
SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}


def code_lines(path: Path) -> int:
    """Lines of ``path`` holding code: not blank, not only a comment, not a docstring."""
    source = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                if isinstance(first.value.value, str):
                    docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in SKIPPED and token.type != tokenize.ENDMARKER:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def part(path: Path) -> str:
    """ "paper", "beyond" or "machinery"."""
    relative = path.relative_to(PACKAGE)
    if relative.parts[0] == "beyond":
        return "beyond"
    if relative.parts[0] == "cli" or relative.stem in ENTRY_POINTS:
        return "machinery"
    return "paper"


def counts() -> dict[str, dict[str, int]]:
    """Part -> module path -> code lines."""
    found: dict[str, dict[str, int]] = {"paper": {}, "beyond": {}, "machinery": {}}
    for path in sorted(PACKAGE.rglob("*.py")):
        found[part(path)][str(path.relative_to(PACKAGE.parent))] = code_lines(path)
    return found


def main() -> None:
    found = counts()
    for name, modules in found.items():
        print(f"{name}: {sum(modules.values())} code lines")
        for module, n in sorted(modules.items(), key=lambda kv: -kv[1]):
            print(f"  {n:5d}  {module}")
    print(f"package: {sum(sum(m.values()) for m in found.values())} code lines")


if __name__ == "__main__":
    sys.exit(main())
