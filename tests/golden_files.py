"""Golden files: many cases per file, each input with its expected output beside it.

Format of a .golden file:

    === case-id
    <input lines>
    ---
    <expected output lines>

Lines before the first `===` are a free-text header. Set JICHI_UPDATE_GOLDEN=1 (or run
`make golden`) to rewrite every expected block from the current output; review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


@dataclass(frozen=True)
class Case:
    id: str
    input: str
    expected: str


def read(path: Path) -> tuple[str, list[Case]]:
    text = path.read_text(encoding="utf-8")
    header, *blocks = text.split("\n=== ")
    if text.startswith("=== "):
        header, blocks = "", [text[4:], *blocks]
    cases = []
    for block in blocks:
        case_id, _, rest = block.partition("\n")
        given, sep, expected = rest.partition("\n---\n")
        if not sep:  # a case without an expected block yet
            given, expected = rest.rstrip("\n").removesuffix("\n---"), ""
        cases.append(Case(case_id.strip(), given, expected.rstrip("\n")))
    return header, cases


def write(path: Path, header: str, cases: list[Case]) -> None:
    parts = [header.rstrip("\n") + "\n"] if header else []
    for c in cases:
        parts.append(f"=== {c.id}\n{c.input}\n---\n{c.expected}\n")
    path.write_text("\n".join(parts), encoding="utf-8")


def check(path: Path, case: Case, actual: str) -> None:
    """Compare, or record the actual output when JICHI_UPDATE_GOLDEN=1."""
    if os.environ.get("JICHI_UPDATE_GOLDEN") == "1":
        header, cases = read(path)
        write(path, header, [Case(c.id, c.input, actual) if c.id == case.id else c for c in cases])
        return
    assert actual == case.expected, f"{path.name} [{case.id}]\n--- expected\n{case.expected}\n--- actual\n{actual}"


def params(name: str) -> tuple[Path, list[Case], list[str]]:
    path = GOLDEN / name
    _, cases = read(path)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), f"duplicate case ids in {name}"
    return path, cases, ids


Render = Callable[[Case], str]
