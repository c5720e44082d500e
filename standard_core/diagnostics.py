"""The one diagnostic shape shared by every layer (DSL, BPMN, packs, API input).

A diagnostic has a stable code (documented in docs/errors.md), a severity, a Japanese
message, a span (file:line:column, 1-based, columns in code points), a fix hint and an
optional reference (spec section or article of law).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"

    @property
    def label(self) -> str:
        return "エラー" if self is Severity.ERROR else "警告"


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; columns count code points."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def shifted(self, file: str, line: int, column: int) -> Span:
        """Return this span relocated into an enclosing file whose text starts at (line, column).

        Used when a DSL snippet is embedded in another file (a BPMN condition, a pack file):
        positions on the snippet's first line are offset by the start column.
        """

        def move(ln: int | None, col: int | None) -> tuple[int | None, int | None]:
            if ln is None or col is None:
                return ln, col
            return line + ln - 1, (column + col - 1 if ln == 1 else col)

        start = move(self.line, self.column)
        end = move(self.end_line, self.end_column)
        return Span(file, start[0] or line, start[1] or column, end[0], end[1])


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span
    hint: str = ""
    reference: str = ""
    source_line: str | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def located(self, file: str, line: int, column: int, source_line: str | None = None) -> Diagnostic:
        """Relocate a snippet-relative diagnostic into its enclosing file."""
        return replace(self, span=self.span.shifted(file, line, column), source_line=source_line)

    def format(self) -> str:
        """`file:line:col: CODE message` then the excerpt with a caret and the hint."""
        s = self.span
        head = f"{s.file}:{s.line}:{s.column}: {self.code} {self.message}"
        if self.severity is Severity.WARNING:
            head = f"{s.file}:{s.line}:{s.column}: {self.code} [警告] {self.message}"
        lines = [head]
        if self.source_line is not None:
            lines.append("    " + self.source_line.rstrip("\n"))
            lines.append("    " + caret_padding(self.source_line, s.column) + "^")
        if self.hint:
            lines.append(f"    ヒント: {self.hint}")
        if self.reference:
            lines.append(f"    根拠: {self.reference}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        s = self.span
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": s.file,
            "line": s.line,
            "column": s.column,
            "end_line": s.end_line,
            "end_column": s.end_column,
            "hint": self.hint,
            "reference": self.reference,
        }


def display_width(text: str) -> int:
    """Terminal columns of text: East-Asian wide and full-width characters count as two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def caret_padding(source_line: str, column: int) -> str:
    """Spaces that put a caret under code point `column` (1-based) of source_line."""
    prefix = source_line[: max(column - 1, 0)]
    return "".join("\t" if ch == "\t" else " " * display_width(ch) for ch in prefix)


def error(code: str, message: str, span: Span, hint: str = "", reference: str = "") -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, span, hint, reference)


def warning(code: str, message: str, span: Span, hint: str = "", reference: str = "") -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, span, hint, reference)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


class DiagnosticError(Exception):
    """Raised when input cannot be accepted; carries every diagnostic found, never just the first."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))
