"""How a DSL function is described: typed signatures, the implementation, and what it needs to run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dsl.types import INT, NOTHING, RATE, ListType, Type

Impl = Callable[..., object]
# Validates an argument written as a text literal, at load time: (argument index, text) → raises
# FunctionDomainError or standard_core.dates.DateError when the text can never work.
LiteralCheck = Callable[[int, str], None]


class FunctionDomainError(ValueError):
    """The arguments are well typed but outside the function's domain; message (and hint) in Japanese."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Signature:
    params: tuple[Type, ...]
    result: Type
    variadic: bool = False  # the last parameter may repeat (at least once)


@dataclass(frozen=True)
class Function:
    """A function rules may call.

    `needs_calendar`: the implementation takes the municipality's calendar as its first argument
    (from the evaluation context; DSL305 when there is none). `check_literal` validates text-literal
    arguments when the expression is loaded; a failure is reported with `literal_code`.
    """

    name: str
    aliases: tuple[str, ...]
    signatures: tuple[Signature, ...]
    impl: Impl
    doc: str
    needs_calendar: bool = False
    check_literal: LiteralCheck | None = None
    literal_code: str = "DSL109"

    def match(self, args: Sequence[Type]) -> Signature | None:
        for sig in self.signatures:
            if sig.variadic:
                fixed = sig.params[:-1]
                if len(args) < len(sig.params):
                    continue
                wanted = list(fixed) + [sig.params[-1]] * (len(args) - len(fixed))
            else:
                if len(args) != len(sig.params):
                    continue
                wanted = list(sig.params)
            if all(_accepts(w, a) for w, a in zip(wanted, args, strict=True)):
                return sig
        return None

    def describe(self) -> str:
        return " / ".join(
            f"{self.name}({', '.join(p.name for p in s.params)}{', …' if s.variadic else ''}) → {s.result.name}"
            for s in self.signatures
        )


def _accepts(wanted: Type, actual: Type) -> bool:
    if wanted == actual:
        return True
    if wanted == RATE and actual == INT:
        return True
    if isinstance(wanted, ListType) and isinstance(actual, ListType):
        return wanted.item == NOTHING or actual.item == NOTHING or _accepts(wanted.item, actual.item)
    return False
