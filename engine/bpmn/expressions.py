"""Every condition, script, timer and data assignment in a BPMN file, parsed and type-checked as DSL at load.

The scope of each top-level process is declared in the file (`jichi:data` on the process, `jichi:field`
on user tasks) and grows with the names scripts assign: scripts are checked first in document order,
then conditions, timers and assignments against the full scope. DSL diagnostics are relocated into the
BPMN file at the exact line and column (see positions.py), with the file's line for the caret excerpt.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree

import dsl
from dsl.types import BOOL, DATE, DURATION, TEXT, Type, type_named, type_names
from engine.bpmn.dialects import expression_dialect, script_format_diagnostic
from engine.bpmn.positions import TextLocator
from engine.bpmn.structure import bpmn_children, containers, executable, local
from engine.bpmn.xml import BPMN_NS, JICHI_NS, SourceFile
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

Kind = Literal["condition", "script", "timer"]
TimerKind = Literal["timeDate", "timeDuration", "timeCycle"]

_B = f"{{{BPMN_NS}}}"
_J = f"{{{JICHI_NS}}}"
_DURATION = r"P(?!$)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+S)?)?"
_DATETIME = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?"
_LOOKS_ISO = re.compile(r"\s*(?:R\d*/|P\d|PT\d|\d{4}-\d{2}-\d{2})")
_TIMER_TYPES: dict[str, tuple[Type, ...]] = {
    "timeDate": (DATE, TEXT), "timeDuration": (DURATION, TEXT), "timeCycle": (TEXT,),
}


@dataclass(frozen=True)
class Compiled:
    """One checked expression or script, ready for the script engine; `literal` is a bare ISO timer."""

    kind: Kind
    expression: dsl.CompiledExpression | None = None
    script: dsl.CompiledScript | None = None
    literal: str | None = None
    timer: TimerKind | None = None
    where: Span | None = None  # the BPMN element, for run-time diagnostics


@dataclass
class ProcessScope:
    """The typed names of one top-level process and what was compiled against them, keyed by text."""

    process_id: str
    names: dict[str, Type] = dataclasses.field(default_factory=dict)
    compiled: dict[str, Compiled] = dataclasses.field(default_factory=dict)
    member_ids: set[str] = dataclasses.field(default_factory=set)  # the process and its sub-processes


def iso_timer_error(text: str, timer: str) -> str | None:
    """Why `text` is not a valid ISO 8601 literal for this timer kind (None when it is)."""
    value = text.strip()
    if timer == "timeDuration":
        return None if re.fullmatch(_DURATION, value) else "ISO 8601 の期間ではありません（例: P14D、PT1H）"
    if timer == "timeDate":
        if not re.fullmatch(_DATETIME, value):
            return "ISO 8601 の日時ではありません（例: 2025-04-01T09:00:00+09:00）"
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "存在しない日時です"
        return None
    parts = value.split("/")
    if not re.fullmatch(r"R\d*", parts[0]) or len(parts) not in (2, 3):
        return "ISO 8601 の繰り返し（例: R3/PT10M、R/2025-04-01T09:00:00+09:00/P1D）ではありません"
    kinds = ["duration" if re.fullmatch(_DURATION, p) else "date" if iso_timer_error(p, "timeDate") is None
             else "bad" for p in parts[1:]]
    # SpiffWorkflow accepts an interval, start/interval or interval/end (CycleTimerEventDefinition).
    if kinds not in (["duration"], ["date", "duration"], ["duration", "date"]):
        return "繰り返しの開始・期間・終了の組み合わせが正しくありません（例: R3/PT10M）"
    return None


def check_expressions(source: SourceFile) -> tuple[dict[str, ProcessScope], list[Diagnostic]]:
    """Check every DSL text of the document; returns the scopes (with compiled closures) and diagnostics."""
    locator = TextLocator(source)
    found: list[Diagnostic] = []
    scopes: dict[str, ProcessScope] = {}
    for process in bpmn_children(source.root, "process"):
        if not executable(process) or not process.get("id"):
            continue
        scope = ProcessScope(process.get("id") or "")
        scope.member_ids = {c.get("id") or "" for c in containers(process)}
        scopes[scope.process_id] = scope
        found.extend(_declarations(source, process, scope))
        checker = _Checker(source, locator, scope, found)
        for element in process.iter(f"{_B}scriptTask"):
            checker.script(element)
        for element in process.iter(f"{_B}conditionExpression"):
            checker.condition(element)
        for element in process.iter(f"{_B}timeDate", f"{_B}timeDuration", f"{_B}timeCycle"):
            checker.timer(element)
        for element in process.iter(f"{_B}assignment"):
            checker.assignment(element)
    return scopes, found


def _declarations(source: SourceFile, process: etree._Element, scope: ProcessScope) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    declared_at: dict[str, int] = {}
    for element in process.iter(f"{_J}data", f"{_J}field"):
        span = source.span(element)
        name, type_name = (element.get("name") or "").strip(), (element.get("type") or "").strip()
        what = "jichi:data" if element.tag == f"{_J}data" else "jichi:field"
        if not name or not type_name:
            found.append(error("BPM450", f"{what} に name か type がありません", span,
                               f'例: <{what} name="申請日" type="日付"/>'))
            continue
        declared = type_named(type_name)
        if declared is None:
            found.append(error("BPM451", f"型「{type_name}」はありません", span,
                               f"使える型: {'、'.join(type_names())}（一覧は「…の一覧」）"))
            continue
        previous = scope.names.get(name)
        if previous is not None and previous != declared:
            found.append(error("BPM452", f"「{name}」は {declared_at[name]} 行目で{previous}として宣言されています"
                               f"が、ここでは{declared}です", span, "同じ名前には同じ型を宣言してください。"))
            continue
        scope.names[name] = declared
        declared_at.setdefault(name, span.line)
    for element in process.iter(f"{_J}*"):
        if etree.QName(element).localname not in ("data", "field"):
            found.append(error("BPM412", f"拡張要素 <jichi:{etree.QName(element).localname}> はありません",
                               source.span(element), "jichi:data と jichi:field だけが使えます。"))
    return found


class _Checker:
    def __init__(self, source: SourceFile, locator: TextLocator, scope: ProcessScope,
                 found: list[Diagnostic]) -> None:
        self.source, self.locator, self.scope, self.found = source, locator, scope, found

    def _relocate(self, element: etree._Element, diagnostics: tuple[Diagnostic, ...]) -> None:
        for d in diagnostics:
            line, column = self.locator.locate(element, d.span.line, d.span.column)
            end_line = end_column = None
            if d.span.end_line is not None and d.span.end_column is not None:
                end_line, end_column = self.locator.locate(element, d.span.end_line, d.span.end_column)
            span = Span(self.source.display, line, column, end_line, end_column)
            self.found.append(dataclasses.replace(d, span=span, source_line=self.source.line(line)))

    def _text(self, element: etree._Element, what: str) -> str | None:
        text = element.text
        if text is None or not text.strip():
            self.found.append(error("BPM441", f"{what}が空です", self.source.span(element),
                                    f"{what}を書くか、要素を削除してください。"))
            return None
        if len(element):
            self.found.append(error("BPM441", f"{what}の中にコメントや要素は書けません", self.source.span(element),
                                    "コメントは BPMN の documentation に移してください。"))
            return None
        return text

    def _compile(self, element: etree._Element, run: Callable[[], Compiled]) -> Compiled | None:
        try:
            return dataclasses.replace(run(), where=self.source.span(element))
        except DiagnosticError as e:
            self._relocate(element, e.diagnostics)
            return None

    def script(self, task: etree._Element) -> None:
        bad_format = script_format_diagnostic(self.source, task)
        if bad_format is not None:
            self.found.append(bad_format)  # never parsed as DSL: the author meant another language
            return
        element = next(bpmn_children(task, "script"), None)
        if element is None:
            self.found.append(error("BPM431", "スクリプトタスクに script がありません", self.source.span(task),
                                    "<bpmn:script> に jichi DSL のスクリプトを書いてください。"))
            return
        text = self._text(element, "スクリプト")
        if text is None:
            return
        compiled = self._compile(element, lambda: Compiled(
            "script", script=dsl.check_script(text, self.scope.names, file=self.source.display)))
        if compiled is not None and compiled.script is not None:
            self.scope.compiled[text] = compiled
            for name, assigned in compiled.script.assigned.items():
                self.scope.names.setdefault(name, assigned)

    def condition(self, element: etree._Element) -> None:
        text = self._text(element, "条件式")
        if text is None:
            return
        dialect = expression_dialect(self.source, element, text)
        if dialect is not None:
            self.found.append(dialect)
            return
        compiled = self._compile(element, lambda: Compiled("condition", expression=dsl.check_expression(
            text, self.scope.names, file=self.source.display, expected=BOOL)))
        if compiled is not None:
            self.scope.compiled[text] = compiled

    def timer(self, element: etree._Element) -> None:
        timer: TimerKind = local(element)  # type: ignore[assignment]  # iter() selected exactly these three
        text = self._text(element, "タイマー式")
        if text is None:
            return
        dialect = expression_dialect(self.source, element, text)
        if dialect is not None:
            self.found.append(dialect)
            return
        if _LOOKS_ISO.match(text):
            problem = iso_timer_error(text, timer)
            if problem is not None:
                line, column = self.locator.locate(element, 1, 1 + len(text) - len(text.lstrip()))
                self.found.append(dataclasses.replace(error(
                    "BPM442", f"タイマー「{text.strip()}」: {problem}", Span(self.source.display, line, column),
                    "timeDuration は P14D / PT1H、timeDate は 2025-04-01T09:00:00+09:00、timeCycle は R3/PT10M の"
                    "形で書いてください。"), source_line=self.source.line(line)))
                return
            self.scope.compiled[text] = Compiled("timer", literal=text.strip(), timer=timer,
                                                 where=self.source.span(element))
            return
        compiled = self._compile(element, lambda: Compiled("timer", expression=dsl.check_expression(
            text, self.scope.names, file=self.source.display), timer=timer))
        if compiled is None or compiled.expression is None:
            return
        allowed = _TIMER_TYPES[timer]
        if compiled.expression.type not in allowed:
            self.found.append(error(
                "BPM443", f"タイマー式の型が{compiled.expression.type}です（{'・'.join(map(str, allowed))}が必要）",
                self.source.span(element), "日付・期間（例: 期間(「P14D」)）を返す式にしてください。"))
            return
        self.scope.compiled[text] = compiled

    def assignment(self, element: etree._Element) -> None:
        source_el, target_el = next(bpmn_children(element, "from"), None), next(bpmn_children(element, "to"), None)
        if source_el is None or target_el is None:
            self.found.append(error("BPM453", "assignment に from と to の両方が必要です", self.source.span(element),
                                    "<bpmn:from>式</bpmn:from><bpmn:to>名前</bpmn:to> の形で書いてください。"))
            return
        text, target = self._text(source_el, "割り当ての式"), (target_el.text or "").strip()
        if text is None:
            return
        compiled = self._compile(source_el, lambda: Compiled("condition", expression=dsl.check_expression(
            text, self.scope.names, file=self.source.display, expected=self.scope.names.get(target))))
        if target not in self.scope.names:
            self.found.append(error("BPM453", f"割り当て先「{target}」は宣言されていません", self.source.span(target_el),
                                    "jichi:data か jichi:field で名前と型を宣言してください。"))
        elif compiled is not None:
            # Checked so the author sees type errors now; SpiffWorkflow 3.2 ignores assignments at run time,
            # and we refuse to silently drop them.
            self.found.append(error("BPM411", "データ割り当て（assignment）の実行は未対応です",
                                    self.source.span(element), "値の受け渡しはスクリプトタスク（`名前 := 式`）で"
                                    "書いてください。"))
