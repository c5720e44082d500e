"""Every diagnostic code is documented in docs/errors.md, and every documented code is used (no rot)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("standard_core", "dsl", "engine", "web")
ERRORS_MD = ROOT / "docs" / "errors.md"
CODE = re.compile(r"\b(DSL|BPM|STD|ENG|PCK|CHK|ORG|INP|AUD|ACC|MIG)\d{3}\b")
SECTION = re.compile(r"^## .*\((?P<family>(?:DSL|BPM|STD|ENG|PCK|CHK|ORG|INP|AUD|ACC|MIG)\d)xx\)\s*$")
ROW = re.compile(r"^\|\s*(?P<code>[A-Z]{3}\d{3})\s*\|(?P<rest>.*)\|\s*$")
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")  # Markdown writes a literal pipe inside a cell as \|
SEVERITIES = {"エラー", "警告"}


def codes_in_code() -> dict[str, list[str]]:
    """Code literal → 'file:line' places where it appears in the project's Python files."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                for m in CODE.finditer(line):
                    found.setdefault(m.group(0), []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


def documented_rows() -> list[tuple[int, str | None, str, list[str]]]:
    """(line, section family such as 'PCK6', code, other cells) for every code row of docs/errors.md."""
    rows: list[tuple[int, str | None, str, list[str]]] = []
    family: str | None = None
    for number, line in enumerate(ERRORS_MD.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("## "):
            m = SECTION.match(line)
            family = m.group("family") if m else None
            continue
        row = ROW.match(line)
        if row:
            rows.append(
                (
                    number,
                    family,
                    row.group("code"),
                    [c.strip() for c in CELL_SEPARATOR.split(row.group("rest"))],
                )
            )
    return rows


def test_every_code_in_code_is_documented() -> None:
    documented = {code for _, _, code, _ in documented_rows()}
    missing = {code: places for code, places in codes_in_code().items() if code not in documented}
    assert missing == {}, "add a row to docs/errors.md for each of these codes"


def test_every_documented_code_is_used() -> None:
    used = codes_in_code()
    unused = [f"docs/errors.md:{line}: {code}" for line, _, code, _ in documented_rows() if code not in used]
    assert unused == [], "remove these rows or use the codes"


def test_rows_are_well_formed_and_in_their_section() -> None:
    problems: list[str] = []
    seen: set[str] = set()
    for line, family, code, cells in documented_rows():
        where = f"docs/errors.md:{line}: {code}"
        if code in seen:
            problems.append(f"{where} documented twice")
        seen.add(code)
        if family is None or not code.startswith(family):
            problems.append(f"{where} is not under its '## … ({code[:4]}xx)' section")
        if len(cells) != 3 or cells[0] not in SEVERITIES or not cells[1] or not cells[2]:
            problems.append(f"{where} needs | コード | 重大度 (エラー/警告) | 意味 | 対処 |")
    assert problems == []


def test_the_checker_sees_codes() -> None:
    # Guards the two tests above against passing vacuously (a broken regex or an empty scan).
    assert "CHK701" in codes_in_code()
    assert any(code == "CHK701" for _, _, code, _ in documented_rows())
