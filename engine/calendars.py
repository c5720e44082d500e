"""Which calendar a municipality uses: its own pack, else its prefecture's pack, else the core defaults.

Resolution for a 全国地方公共団体コード (docs/dates.md, 「団体の暦」):
1. the pack whose `municipalities` lists the code, with its base chain applied from the outermost base
   (a child's values override its base's: year_end replaced, local holidays added or replaced by day);
2. else the pack listing the prefecture's code (the first two digits + "000" + its check digit);
3. else the core defaults (土日・祝日・12月29日〜1月3日).
A code with a wrong check digit is an error (INP801), not an unknown municipality. A pack for the code (or
its prefecture) that has errors stops resolution (INP803) rather than falling back silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from engine.packs import ASCII_CODE, Pack, check_digit, discover_packs
from standard_core.diagnostics import Diagnostic, Span, error
from standard_core.municipal_calendar import MunicipalCalendar

ARGUMENT = "--municipality"


def prefecture_code(code: str) -> str:
    """The 都道府県 code of a municipality code: 472018 (那覇市) → 470007 (沖縄県)."""
    first_five = code[:2] + "000"
    return first_five + str(check_digit(first_five))


def check_code(code: str, span: Span | None = None) -> Diagnostic | None:
    """INP801 when `code` is not six ASCII digits with a valid check digit, else None."""
    where = span or Span(ARGUMENT, 1, 1)
    if ASCII_CODE.fullmatch(code) is None:
        return error(
            "INP801", f"団体コード「{code}」は全国地方公共団体コード（半角数字6桁）ではありません。", where,
            "5桁の団体コードに検査数字を付けた6桁で指定してください（例: 那覇市は 472018）。",
        )
    expected = check_digit(code[:5])
    if int(code[5]) != expected:
        return error(
            "INP801", f"団体コード「{code}」の検査数字が合いません（正しくは {code[:5]}{expected}）。", where,
            "総務省の全国地方公共団体コード一覧で6桁のコードを確かめてください。",
        )
    return None


def pack_for(code: str, packs: Sequence[Pack]) -> tuple[Pack | None, bool, list[Diagnostic]]:
    """The pack that serves municipality `code`: its own (True), else its prefecture's (False), else None.

    Layers (base packs) of the chosen pack are in its `layers`. Two packs claiming one code is INP804.
    """
    problem = check_code(code)
    if problem is not None:
        return None, False, [problem]
    prefecture = prefecture_code(code)
    for wanted, own in ((code, True), (prefecture, False)):
        candidates = [p for p in packs if wanted in p.municipalities]
        if not candidates:
            continue
        chosen = [p for p in candidates if all(other.id in p.layers for other in candidates)]
        if len(chosen) != 1:
            names = "、".join(sorted(p.id for p in candidates))
            return None, own, [error(
                "INP804", f"団体コード「{wanted}」を複数のパック（{names}）が municipalities に挙げています。", Span(ARGUMENT, 1, 1),
                "一つの団体は一つのパックに挙げ、共通部分は base（都道府県のパック）に書いてください。",
            )]
        return chosen[0], own, []
    return None, False, []


def calendar_for(code: str, packs: Sequence[Pack]) -> tuple[MunicipalCalendar | None, list[Diagnostic]]:
    """The calendar of municipality `code` from already discovered (valid) packs."""
    pack, own, problems = pack_for(code, packs)
    if problems:
        return None, problems
    if pack is None:
        return MunicipalCalendar(name=f"{code}: 標準の暦"), []
    by_id = {p.id: p for p in packs}
    settings = [by_id[layer].calendar for layer in pack.layers if layer in by_id]
    name = (pack.name or pack.id) if own else f"{code}: {pack.name or pack.id}の暦"
    return MunicipalCalendar.layered(name, [s for s in settings if s is not None]), []


def resolve_calendar(code: str, root: Path) -> tuple[MunicipalCalendar | None, list[Diagnostic]]:
    """Discover the packs under root/local_rules and resolve the calendar of `code` (see the module doc)."""
    problem = check_code(code)
    if problem is not None:
        return None, [problem]
    packs, diagnostics = discover_packs(root / "local_rules")
    relevant = [d for d in diagnostics if d.is_error and _concerns(d, code)]
    if relevant:
        head = error(
            "INP803", f"団体コード「{code}」の暦を決めるパックにエラーがあります。", Span(ARGUMENT, 1, 1),
            "jichi check でパックの診断を確かめ、直してからもう一度実行してください。",
        )
        return None, [head, *(_relative(d, root) for d in relevant)]
    return calendar_for(code, packs)


def _concerns(diagnostic: Diagnostic, code: str) -> bool:
    """A diagnostic in a pack folder named after the municipality or its prefecture (`<code>-…`)."""
    folder = Path(diagnostic.span.file).parent.name
    return folder.startswith((f"{code}-", f"{prefecture_code(code)}-"))


def _relative(diagnostic: Diagnostic, root: Path) -> Diagnostic:
    try:
        shown = Path(diagnostic.span.file).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return diagnostic
    return replace(diagnostic, span=replace(diagnostic.span, file=shown))
