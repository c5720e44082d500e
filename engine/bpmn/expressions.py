"""Every condition, script, timer and data assignment in a BPMN file, parsed and type-checked as DSL at load.

The scope of each top-level process is declared in the file (`jichi:data` on the process, `jichi:field`
on user tasks) and grows with the names scripts assign: scripts are checked first in document order,
then conditions, timers and assignments against the full scope. DSL diagnostics are relocated into the
BPMN file at the exact line and column (see positions.py), with the file's line for the caret excerpt.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree

import dsl
from dsl.rules.analysis import inputs_read
from dsl.rules.model import RuleSet
from dsl.types import BOOL, DATE, DURATION, TEXT, EnumType, ListType, Type, list_of, type_named, type_names
from engine.bpmn.dialects import expression_dialect, script_format_diagnostic
from engine.bpmn.positions import TextLocator
from engine.bpmn.structure import bpmn_children, containers, executable, local
from engine.bpmn.xml import BPMN_NS, JICHI_NS, SourceFile
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

Kind = Literal["condition", "script", "timer", "decision"]
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
class DecisionCall:
    """`<jichi:decision name="本人確認の結果" result="本人確認済"/>`: evaluate a decision (or table) of the
    rule files on the case data and store its value under `result`."""

    name: str
    result: str
    type: Type
    on: dsl.CompiledExpression | None = None  # the reference date (基準日) when not the step's day


@dataclass(frozen=True)
class Compiled:
    """One checked expression or script, ready for the script engine; `literal` is a bare ISO timer."""

    kind: Kind
    expression: dsl.CompiledExpression | None = None
    script: dsl.CompiledScript | None = None
    literal: str | None = None
    timer: TimerKind | None = None
    where: Span | None = None  # the BPMN element, for run-time diagnostics
    decisions: tuple[DecisionCall, ...] = ()  # a business rule task's calls, in order


def decision_key(task_id: str) -> str:
    """The text under which a business rule task's calls are compiled (SpiffWorkflow runs it as a script)."""
    return f"jichi:decision:{task_id}"


def resolve_type(name: str, rules: RuleSet | None) -> Type | None:
    """A declared type: a built-in one (整数, 日付の一覧 …) or a record or enumeration of the rule files
    (提示書類の一覧, 十五日特例の事由)."""
    found = type_named(name)
    if found is not None or rules is None:
        return found
    name = name.strip()
    for suffix in ("の一覧", "[]"):
        if name.endswith(suffix):
            item = resolve_type(name[: -len(suffix)], rules)
            return list_of(item) if item is not None else None
    return rules.types.get(name)


@dataclass(frozen=True)
class FieldCheck:
    """`<jichi:check test="請求通数 >= 1" message="請求通数は1通以上です"/>` on a user task: a condition the
    task's input must meet (with the case data) before the task may complete."""

    text: str
    message: str
    expression: dsl.CompiledExpression
    where: Span


LOCAL_NAMESPACE = "独自"  # a municipality's own form fields live under this name (engine.forms)


@dataclass
class ProcessScope:
    """The typed names of one top-level process and what was compiled against them, keyed by text."""

    process_id: str
    names: dict[str, Type] = dataclasses.field(default_factory=dict)
    compiled: dict[str, Compiled] = dataclasses.field(default_factory=dict)
    member_ids: set[str] = dataclasses.field(default_factory=set)  # the process and its sub-processes
    checks: dict[str, list[FieldCheck]] = dataclasses.field(default_factory=dict)  # user task id → its checks
    # user task id → the data item naming the title (職) of the position it goes to (jichi:assign)
    assign: dict[str, str] = dataclasses.field(default_factory=dict)
    # user task id → the data item whose value is the unit of that position (default: the case's unit)
    assign_unit: dict[str, str] = dataclasses.field(default_factory=dict)


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


def check_expressions(source: SourceFile, rules: RuleSet | None = None,
                      ) -> tuple[dict[str, ProcessScope], list[Diagnostic]]:
    """Check every DSL text of the document; returns the scopes (with compiled closures) and diagnostics.

    `rules` are the rule files the document's business rule tasks may call (and whose records and
    enumerations its data may be declared with): the core's for processes/, the pack's layers for a pack.
    """
    locator = TextLocator(source)
    found: list[Diagnostic] = []
    scopes: dict[str, ProcessScope] = {}
    for process in bpmn_children(source.root, "process"):
        if not executable(process) or not process.get("id"):
            continue
        scope = ProcessScope(process.get("id") or "")
        scope.member_ids = {c.get("id") or "" for c in containers(process)}
        scopes[scope.process_id] = scope
        found.extend(_declarations(source, process, scope, rules))
        checker = _Checker(source, locator, scope, found, rules)
        for element in process.iter(f"{_B}scriptTask", f"{_B}businessRuleTask"):
            if element.tag == f"{_B}scriptTask":
                checker.script(element)
            else:
                checker.decisions(element)
        for element in process.iter(f"{_B}conditionExpression", f"{_B}completionCondition"):
            checker.condition(element)
        for element in process.iter(f"{_B}timeDate", f"{_B}timeDuration", f"{_B}timeCycle"):
            checker.timer(element)
        for element in process.iter(f"{_B}assignment"):
            checker.assignment(element)
        for element in process.iter(f"{_B}userTask"):
            checker.field_checks(element)
    return scopes, found


def _declarations(source: SourceFile, process: etree._Element, scope: ProcessScope,
                  rules: RuleSet | None) -> list[Diagnostic]:
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
        if name == LOCAL_NAMESPACE or name.startswith(LOCAL_NAMESPACE + "."):
            found.append(error("BPM455", f"「{LOCAL_NAMESPACE}」は団体独自の項目の名前空間で、手続きの項目には使えません",
                               span, "別の名前にしてください。団体独自の項目はパックの様式の変更（forms/*.toml）で"
                               f"「{LOCAL_NAMESPACE}.名前」として追加します（docs/forms.md）。"))
            continue
        if element.get("required") not in (None, "true", "false"):
            found.append(error("BPM454", f"{what} の required は true か false です（「{element.get('required')}」）",
                               span, 'required="true" で必須の項目になります。'))
            continue
        declared = resolve_type(type_name, rules)
        if declared is None:
            defined = f"、規則ファイルの型（{'、'.join(rules.types)}）" if rules is not None and rules.types else ""
            found.append(error("BPM451", f"型「{type_name}」はありません", span,
                               f"使える型: {'、'.join(type_names())}{defined}（一覧は「…の一覧」）"))
            continue
        previous = scope.names.get(name)
        if previous is not None and previous != declared:
            found.append(error("BPM452", f"「{name}」は {declared_at[name]} 行目で{previous}として宣言されています"
                               f"が、ここでは{declared}です", span, "同じ名前には同じ型を宣言してください。"))
            continue
        scope.names[name] = declared
        declared_at.setdefault(name, span.line)
    found.extend(_multi_instance(source, process, scope))
    for element in process.iter(f"{_J}*"):
        name = etree.QName(element).localname
        if name in ("decision", "check", "assign"):
            owner = element.getparent()
            task = owner.getparent() if owner is not None and local(owner) == "extensionElements" else None
            wanted = "businessRuleTask" if name == "decision" else "userTask"
            if task is None or local(task) != wanted:
                where = "ビジネスルールタスク" if name == "decision" else "ユーザータスク"
                found.append(error("BPM412", f"<jichi:{name}> は{where}の中にだけ書けます",
                                   source.span(element), "判定はビジネスルールタスク、入力の検査と宛先の職は"
                                   "ユーザータスクの extensionElements に書いてください。"))
        elif name not in ("data", "field"):
            found.append(error("BPM412", f"拡張要素 <jichi:{name}> はありません",
                               source.span(element), "jichi:data・jichi:field、ユーザータスクの jichi:check と "
                               "jichi:assign、ビジネスルールタスクの jichi:decision だけが使えます。"))
    return found


def _multi_instance(source: SourceFile, process: etree._Element, scope: ProcessScope) -> list[Diagnostic]:
    """Parallel multi-instance user tasks (合議 to several units at once): one task per element of a declared
    list (loopDataInputRef), the element under the inputDataItem's name in each task's data, an optional
    completionCondition (checked with the conditions). Anything else SpiffWorkflow could read is refused."""
    found: list[Diagnostic] = []
    for loop in process.iter(f"{_B}multiInstanceLoopCharacteristics"):
        span, task = source.span(loop), loop.getparent()
        hint = ("<bpmn:loopDataInputRef>一覧の項目名</bpmn:loopDataInputRef> と <bpmn:inputDataItem id=\"要素の名前\" "
                "name=\"要素の名前\"/> を書いてください（docs/engine.md「マルチインスタンス」）。")
        if task is None or local(task) != "userTask":
            found.append(error("BPM410", "マルチインスタンスはユーザータスクでだけ使えます", span, hint))
            continue
        if loop.get("isSequential") == "true" or next(bpmn_children(loop, "loopCardinality"), None) is not None:
            found.append(error("BPM410", "順次のマルチインスタンスと loopCardinality は未対応です", span, hint))
            continue
        extra = [local(c) for c in bpmn_children(loop) if local(c) not in
                 ("loopDataInputRef", "inputDataItem", "completionCondition")]
        if extra:
            found.append(error("BPM410", f"マルチインスタンスの「{extra[0]}」は未対応です", span,
                               "結果は各タスクの項目がそのまま案件のデータに入ります。" + hint))
            continue
        ref = next(bpmn_children(loop, "loopDataInputRef"), None)
        item = next(bpmn_children(loop, "inputDataItem"), None)
        collection = (ref.text or "").strip() if ref is not None else ""
        declared = scope.names.get(collection)
        item_name = (item.get("id") or "").strip() if item is not None else ""
        if not isinstance(declared, ListType):
            found.append(error("BPM459", f"マルチインスタンスの loopDataInputRef「{collection}」は宣言された一覧では"
                               "ありません", span, hint))
        elif not item_name or (item is not None and item.get("name") not in (None, item_name)):
            found.append(error("BPM459", "inputDataItem の id（と name）に、各タスクでの要素の名前を書いてください",
                               span, hint))
        elif scope.names.setdefault(item_name, declared.item) != declared.item:
            found.append(error("BPM452", f"「{item_name}」は{scope.names[item_name]}として宣言されていますが、"
                               f"「{collection}」の要素は{declared.item}です", span, "別の名前にしてください。"))
    return found


class _Checker:
    def __init__(self, source: SourceFile, locator: TextLocator, scope: ProcessScope,
                 found: list[Diagnostic], rules: RuleSet | None) -> None:
        self.source, self.locator, self.scope, self.found = source, locator, scope, found
        self.rules = rules
        # The rule files' enumeration values (出生, 課長 …) may be named in conditions, scripts and checks.
        self.constants = dict(rules.enum_values) if rules is not None else None

    def field_checks(self, task: etree._Element) -> None:
        """A user task's jichi:check elements: boolean DSL over the process's names (its fields included),
        and its jichi:assign: the data item whose value is the title (職) of the position the task goes to."""
        ext = next(bpmn_children(task, "extensionElements"), None)
        for element in [] if ext is None else ext.iterchildren(f"{_J}assign"):
            item = (element.get("title") or "").strip()
            declared = self.scope.names.get(item)
            if declared is None or not (declared == TEXT or isinstance(declared, EnumType)):
                what = "宣言されていません" if declared is None else f"{declared}です（文字列か列挙が必要）"
                self.found.append(error("BPM458", f"jichi:assign の title「{item}」は{what}", self.source.span(element),
                                        '宛先の職名（課長・係長…）を値に持つ項目を書きます。例: <jichi:assign '
                                        'title="決裁の段階"/>。レーン名が職名なら jichi:assign は要りません。'))
                continue
            unit = (element.get("unit") or "").strip()
            if unit and self.scope.names.get(unit) != TEXT:
                self.found.append(error("BPM458", f"jichi:assign の unit「{unit}」は宣言された文字列の項目ではありません",
                                        self.source.span(element), "宛先の組織の code を値に持つ項目を書きます（省略する"
                                        "と案件の担当組織）。例: 合議先の組織"))
                continue
            self.scope.assign[task.get("id") or ""] = item
            if unit:
                self.scope.assign_unit[task.get("id") or ""] = unit
        for element in [] if ext is None else ext.iterchildren(f"{_J}check"):
            where = self.source.span(element)
            text, message = (element.get("test") or "").strip(), (element.get("message") or "").strip()
            if not text or not message:
                self.found.append(error("BPM456", "jichi:check に test か message がありません", where,
                                        '例: <jichi:check test="請求通数 >= 1" message="請求通数は1通以上です"/>'))
                continue
            try:
                expression = dsl.check_expression(text, self.scope.names, file=self.source.display, expected=BOOL,
                                                  constants=self.constants)
            except DiagnosticError as e:
                first = e.diagnostics[0]
                self.found.append(error("BPM457", f"入力の検査の式: {first.message}", where,
                                        first.hint or "真偽を返す式（例: 請求通数 >= 1）を書いてください。"))
                continue
            self.scope.checks.setdefault(task.get("id") or "", []).append(FieldCheck(text, message, expression, where))

    def decisions(self, task: etree._Element) -> None:
        """A business rule task: each jichi:decision names a decision of the rule files; every input it
        reads must be declared in the process with the same type; its value is stored under `result`."""
        ext = next(bpmn_children(task, "extensionElements"), None)
        calls = [] if ext is None else list(ext.iterchildren(f"{_J}decision"))
        span = self.source.span(task)
        if not calls:
            self.found.append(error("BPM460", "ビジネスルールタスクに呼び出す判定（jichi:decision）がありません", span,
                                    '例: <jichi:decision name="本人確認の結果" result="本人確認済"/>'))
            return
        if self.rules is None:
            self.found.append(error("BPM461", "このファイルには呼び出せる規則ファイルがありません", span,
                                    "標準（standard_core/rules）かパックの rules/ にある規則を呼び出してください。"))
            return
        compiled, ok = [], True
        for call in calls:
            where = self.source.span(call)
            name = (call.get("name") or "").strip()
            result = (call.get("result") or name).strip()
            t = self.rules.definition_type(name) if name in self.rules.evaluable() else None
            if t is None:
                close = difflib.get_close_matches(name, self.rules.evaluable(), n=3, cutoff=0.4)
                self.found.append(error(
                    "BPM461", f"判定「{name}」は規則ファイルにありません" if name else "jichi:decision に name がありません",
                    where, (f"近い名前: {'、'.join(close)}。" if close else "")
                    + "呼び出せるのは規則ファイルの決定と表です（jichi rules manifest・docs/core-rules.md）。"))
                ok = False
                continue
            for input_name, wanted in inputs_read(self.rules, name).items():
                declared = self.scope.names.get(input_name)
                if declared is None:
                    self.found.append(error(
                        "BPM462", f"判定「{name}」が読む入力「{input_name}」（{wanted}）がプロセスで宣言されていません",
                        where, f'前のユーザータスクに <jichi:field name="{input_name}" type="{wanted}"/> を置くか、'
                        f'プロセスの <jichi:data name="{input_name}" type="{wanted}"/> で開始時に受け取ってください。'))
                    ok = False
                elif declared != wanted:
                    self.found.append(error(
                        "BPM463", f"「{input_name}」はプロセスでは{declared}ですが、判定「{name}」は{wanted}として"
                        "読みます", where, f"宣言の型を「{wanted}」にしてください（規則の入力と同じ名前・同じ型）。"))
                    ok = False
            previous = self.scope.names.get(result)
            if previous is not None and previous != t:
                self.found.append(error(
                    "BPM463", f"結果の「{result}」はプロセスでは{previous}ですが、判定「{name}」の値は{t}です", where,
                    "result に別の名前を付けるか、宣言の型を判定の型にそろえてください。"))
                ok = False
                continue
            on = None
            if call.get("on") is not None:
                try:
                    on = dsl.check_expression(call.get("on") or "", self.scope.names, constants=self.constants,
                                              file=self.source.display,
                                              expected=DATE)
                except DiagnosticError as e:
                    first = e.diagnostics[0]
                    self.found.append(error("BPM464", f"判定「{name}」の基準日 on の式: {first.message}", where,
                                            first.hint or "日付を返す式（例: 認定請求日、月初日(支給開始月)）を書いて"
                                            "ください。"))
                    ok = False
                    continue
            compiled.append(DecisionCall(name, result, t, on))
            self.scope.names.setdefault(result, t)  # a later call (or its on) may use it
        if not ok:
            return
        self.scope.compiled[decision_key(task.get("id") or "")] = Compiled(
            "decision", decisions=tuple(compiled), where=span)

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
            "script", script=dsl.check_script(text, self.scope.names, file=self.source.display,
                                              constants=self.constants)))
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
            text, self.scope.names, file=self.source.display, expected=BOOL, constants=self.constants)))
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
            text, self.scope.names, file=self.source.display, constants=self.constants), timer=timer))
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
            text, self.scope.names, file=self.source.display, expected=self.scope.names.get(target),
            constants=self.constants)))
        if target not in self.scope.names:
            self.found.append(error("BPM453", f"割り当て先「{target}」は宣言されていません", self.source.span(target_el),
                                    "jichi:data か jichi:field で名前と型を宣言してください。"))
        elif compiled is not None:
            # Checked so the author sees type errors now; SpiffWorkflow 3.2 ignores assignments at run time,
            # and we refuse to silently drop them.
            self.found.append(error("BPM411", "データ割り当て（assignment）の実行は未対応です",
                                    self.source.span(element), "値の受け渡しはスクリプトタスク（`名前 := 式`）で"
                                    "書いてください。"))
