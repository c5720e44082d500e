"""Check and compile DSL text in one call: what the engine and the web use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from dsl import nodes
from dsl.checker import Checker
from dsl.compiler import Compiler, to_data
from dsl.context import EvalContext
from dsl.errors import DslRuntimeError
from dsl.parser import parse_expression, parse_script
from dsl.types import Type
from standard_core.diagnostics import DiagnosticError, has_errors


@dataclass(frozen=True)
class CompiledExpression:
    """A checked expression: its source, static type, AST and the closure that evaluates it."""

    source: str
    type: Type
    node: nodes.Expr
    _fn: Callable[[Mapping[str, object], EvalContext | None], Any] = field(repr=False)

    def evaluate(self, data: Mapping[str, object], context: EvalContext | None = None) -> object:
        """Evaluate on case data. Raises DslRuntimeError (DSL3xx) when the data does not allow it.

        `context` gives 基準日 and the municipality's calendar; without it, an expression that needs
        them fails with DSL305 (one that does not runs as before).
        """
        try:
            return self._fn(data, context)
        except DslRuntimeError as e:
            raise with_source(e, self.source) from None


@dataclass(frozen=True)
class CompiledScript:
    """A checked script: assignments `名前 := 式` run in order."""

    source: str
    assigned: dict[str, Type]
    node: nodes.Script
    _steps: tuple[
        tuple[tuple[str, ...], Type, Callable[[Mapping[str, object], EvalContext | None], Any]], ...
    ] = field(repr=False)

    def run(self, data: MutableMapping[str, object], context: EvalContext | None = None) -> None:
        """Run every assignment against `data`. All or nothing: on a DslRuntimeError data is unchanged.

        `context` as for CompiledExpression.evaluate.
        """
        overlay: dict[str, object] = {}
        view = _Overlay(overlay, data)
        for target, t, fn in self._steps:
            try:
                value = to_data(fn(view, context), t)
            except DslRuntimeError as e:
                raise with_source(e, self.source) from None
            root, *path = target
            if not path:
                overlay[root] = value
                continue
            record = _deep_copy_path(view.get(root), path[:-1])
            overlay[root] = record[0]
            record[1][path[-1]] = value
        data.update(overlay)


class _Overlay(Mapping[str, object]):
    """Reads see the script's own assignments first, then the case data."""

    def __init__(self, top: dict[str, object], below: Mapping[str, object]) -> None:
        self.top, self.below = top, below

    def __getitem__(self, key: str) -> object:
        return self.top[key] if key in self.top else self.below[key]

    def __iter__(self) -> Any:
        return iter({**dict(self.below), **self.top})

    def __len__(self) -> int:
        return len(set(self.below) | set(self.top))


def with_source(e: DslRuntimeError, source: str) -> DslRuntimeError:
    """The same runtime error with the offending source line attached for the caret excerpt."""
    d = e.diagnostic
    lines = source.split("\n")
    if d.source_line is not None or not 1 <= d.span.line <= len(lines):
        return e
    return DslRuntimeError(replace(d, source_line=lines[d.span.line - 1]))


def _deep_copy_path(root: object, path: list[str]) -> tuple[dict[str, object], dict[str, object]]:
    """Copy a nested record along `path` so assigning into it never mutates the input before commit."""
    top: dict[str, object] = dict(root) if isinstance(root, Mapping) else {}
    current = top
    for part in path:
        child = current.get(part)
        current[part] = dict(child) if isinstance(child, Mapping) else {}
        nxt = current[part]
        assert isinstance(nxt, dict)
        current = nxt
    return top, current


def _with_constants(scope: Mapping[str, Type], constants: Mapping[str, Type] | None,
                    ) -> tuple[dict[str, Type], dict[str, object]]:
    """The checker's scope and the compiler's constants: enumeration values (出生, 課長 …) are names of
    their enumeration's type whose value is their own name; a declared name of the same spelling wins."""
    values = {name: name for name in constants or {} if name not in scope}
    return {**{n: t for n, t in (constants or {}).items() if n in values}, **scope}, dict(values)


def check_expression(
    text: str, scope: Mapping[str, Type], *, file: str = "<式>", expected: Type | None = None,
    constants: Mapping[str, Type] | None = None,
) -> CompiledExpression:
    """Parse, type-check against `scope` and compile. Raises DiagnosticError with every problem found.

    `constants`: enumeration values the text may name (value name → its enumeration type).
    """
    node = parse_expression(text, file)
    names, values = _with_constants(scope, constants)
    checker = Checker(names, file, text)
    t = checker.check(node)
    checker.expect(node, t, expected, "この式の値")
    if has_errors(checker.diagnostics):
        raise DiagnosticError(checker.diagnostics)
    fn = Compiler(checker.scope, checker.types, constants=values).compile(node)
    return CompiledExpression(text, t, node, fn)


def check_script(text: str, scope: Mapping[str, Type], *, file: str = "<スクリプト>",
                 constants: Mapping[str, Type] | None = None) -> CompiledScript:
    """Parse, type-check and compile a script. Raises DiagnosticError with every problem found."""
    script = parse_script(text, file)
    names, values = _with_constants(scope, constants)
    checker = Checker(names, file, text)
    assigned = checker.check_script(script)
    if has_errors(checker.diagnostics):
        raise DiagnosticError(checker.diagnostics)
    steps = []
    for stmt in script.statements:
        # Each statement sees the scope as it was after the ones before it; the checker's final
        # scope includes all assignments, which is a superset with the same types.
        fn = Compiler(checker.scope, checker.types, constants=values).compile(stmt.value)
        steps.append((stmt.target, checker.types[id(stmt.value)], fn))
    return CompiledScript(text, assigned, script, tuple(steps))
