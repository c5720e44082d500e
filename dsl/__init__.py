"""The jichi DSL: a typed expression language parsed by Lark (LALR), checked, and compiled to closures.

Public API (stable for engine/ and web/):

    parse_expression(text, file=...) -> nodes.Expr           raises DiagnosticError
    parse_script(text, file=...) -> nodes.Script              raises DiagnosticError
    check_expression(text, scope, file=..., expected=None) -> CompiledExpression   raises DiagnosticError
        CompiledExpression.evaluate(data, context=None); CompiledScript.run(data, context=None)
    EvalContext(on=None, calendar=None)                       基準日 and the municipality's calendar
    check_script(text, scope, file=...) -> CompiledScript      raises DiagnosticError
    type_named(name) -> Type | None                            '整数', '金額', '日付', ... or ASCII aliases

Nothing here uses Python eval/exec/compile: evaluation runs closures built from AST nodes.
"""

from dsl.api import CompiledExpression, CompiledScript, check_expression, check_script
from dsl.context import EvalContext
from dsl.errors import DslRuntimeError
from dsl.parser import parse_expression, parse_script
from dsl.types import Type, type_named

__all__ = [
    "CompiledExpression",
    "CompiledScript",
    "DslRuntimeError",
    "EvalContext",
    "Type",
    "check_expression",
    "check_script",
    "parse_expression",
    "parse_script",
    "type_named",
]
