"""No Python from data (DESIGN.md principle 3): project code never reaches eval/exec/compile/__import__.

The scanner works on the syntax tree, so comments and strings that merely mention eval are fine, and a
project function that shadows a builtin name (a DSL pass called `compile`) is not the builtin.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("standard_core", "dsl", "engine", "web")

# Builtins and functions that turn text into running code.
FORBIDDEN_NAMES = frozenset({"eval", "exec", "compile", "__import__", "import_module", "__builtins__"})
# Attributes forbidden on any object: there is no good reason for our code to reach one of these.
FORBIDDEN_ATTRIBUTES = frozenset({"eval", "exec", "__import__", "import_module", "__builtins__"})
# Modules through which the builtins can be reached by attribute (builtins.compile, importlib.import_module).
CODE_MODULES = frozenset({"builtins", "importlib", "__builtins__"})
DYNAMIC_ACCESS = frozenset({"getattr", "setattr", "hasattr", "vars", "globals", "locals"})


def _bound_names(tree: ast.Module) -> set[str]:
    """Names the module itself defines or imports (not from builtins/importlib): these shadow builtins."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module not in CODE_MODULES:
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def forbidden_uses(source: str, filename: str = "<snippet>") -> list[str]:
    """Every place in source that can run text as Python code, as 'file:line: what'."""
    tree = ast.parse(source, filename)
    shadowed = _bound_names(tree)
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES and node.id not in shadowed:
            flag(node, node.id)
        elif isinstance(node, ast.Attribute):
            base = node.value.id if isinstance(node.value, ast.Name) else None
            if node.attr in FORBIDDEN_ATTRIBUTES or (base in CODE_MODULES and node.attr in FORBIDDEN_NAMES):
                flag(node, f"{base or '…'}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in CODE_MODULES:
            for alias in node.names:
                if alias.name in FORBIDDEN_NAMES or alias.name == "*":
                    flag(node, f"from {node.module} import {alias.name}")
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_ACCESS
        ):
            for arg in node.args[1:2]:
                if isinstance(arg, ast.Constant) and arg.value in FORBIDDEN_NAMES:
                    flag(node, f"{node.func.id}(…, {arg.value!r})")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value in FORBIDDEN_NAMES
        ):
            flag(node, f"[…][{node.slice.value!r}]")
    return found


def project_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_project_code_never_runs_text_as_code() -> None:
    files = project_files()
    assert files
    uses = [
        use
        for path in files
        for use in forbidden_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert uses == []


@pytest.mark.parametrize(
    "snippet",
    [
        "eval('1 + 1')\n",
        "exec('import os')\n",
        "code = compile('1', '<s>', 'eval')\n",
        "os = __import__('os')\n",
        "import importlib\nimportlib.import_module('os')\n",
        "from importlib import import_module\nimport_module('os')\n",
        "import builtins\nbuiltins.eval('1')\n",
        "import builtins\nbuiltins.compile('1', '<s>', 'eval')\n",
        "import builtins\nf = getattr(builtins, 'eval')\n",
        "f = globals()['__builtins__']['exec']\n",
        "from builtins import exec as run\n",
        "run = eval\n",
        "def f(engine):\n    return engine.eval('x')\n",
    ],
    ids=[
        "eval",
        "exec",
        "compile",
        "dunder-import",
        "import-module",
        "from-importlib",
        "builtins-eval",
        "builtins-compile",
        "getattr-eval",
        "subscript-builtins",
        "from-builtins-alias",
        "eval-reference",
        "method-eval",
    ],
)
def test_scanner_flags(snippet: str) -> None:
    assert forbidden_uses(snippet) != []


@pytest.mark.parametrize(
    "snippet",
    [
        "import re\nPATTERN = re.compile('[0-9]+')\n",
        "def compile(node):\n    return node\n\ncompile(1)\n",
        "from dsl.compiler import compile\ncompile(1)\n",
        "# eval( in a comment is harmless\nx = 'exec(1)'\n",
        "def evaluate(env):\n    return env\n",
    ],
    ids=["re-compile", "own-compile", "imported-compile", "comment-and-string", "evaluate"],
)
def test_scanner_allows(snippet: str) -> None:
    assert forbidden_uses(snippet) == []
