"""Dependencies point one way: standard_core ← dsl ← engine ← web (DESIGN.md, Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("standard_core", "dsl", "engine", "web")
# What each layer may not import: everything above it.
FORBIDDEN = {layer: set(LAYERS[i + 1 :]) for i, layer in enumerate(LAYERS)}


def imported_top_modules(source: str, filename: str = "<snippet>") -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in source, nested and TYPE_CHECKING ones too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def layer_violations(layer: str, source: str, filename: str = "<snippet>") -> list[str]:
    return [
        f"{filename}:{line}: {layer} imports {module}"
        for line, module in imported_top_modules(source, filename)
        if module in FORBIDDEN[layer]
    ]


def project_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_lower_layers(layer: str) -> None:
    files = project_files(layer)
    assert files, f"no Python files found in {layer}/"
    violations = [
        v
        for path in files
        for v in layer_violations(layer, path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert violations == []


@pytest.mark.parametrize(
    ("layer", "snippet"),
    [
        ("standard_core", "import dsl\n"),
        ("standard_core", "from engine.db import Base\n"),
        ("dsl", "def f():\n    from web import create_app\n"),
        ("dsl", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import engine.packs\n"),
        ("engine", "import web.cli as cli\n"),
    ],
    ids=[
        "core-imports-dsl",
        "core-imports-engine",
        "dsl-nested-web",
        "dsl-type-checking-engine",
        "engine-web",
    ],
)
def test_scanner_flags_upward_import(layer: str, snippet: str) -> None:
    assert layer_violations(layer, snippet) != []


@pytest.mark.parametrize(
    ("layer", "snippet"),
    [
        ("dsl", "from standard_core.diagnostics import error\n"),
        ("engine", "import dsl\nfrom standard_core import diagnostics\n"),
        ("web", "from engine.db import Base\nimport dsl\n"),
        ("engine", "from . import db\n"),
    ],
    ids=["dsl-core", "engine-lower", "web-everything", "relative"],
)
def test_scanner_allows_downward_import(layer: str, snippet: str) -> None:
    assert layer_violations(layer, snippet) == []
