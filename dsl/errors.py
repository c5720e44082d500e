"""Errors raised while a compiled DSL expression runs (DSL3xx)."""

from __future__ import annotations

from standard_core.diagnostics import Diagnostic, Span, error


class DslRuntimeError(Exception):
    """A DSL expression could not be evaluated on this data; carries one diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__(diagnostic.format())


def runtime_error(code: str, message: str, span: Span, hint: str = "") -> DslRuntimeError:
    return DslRuntimeError(error(code, message, span, hint))
