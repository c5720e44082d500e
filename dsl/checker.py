"""Static type check of a parsed DSL expression or script against declared inputs.

Every problem is collected (not just the first); after an error the offending node gets the type
ERROR, which is compatible with everything, so one mistake does not cascade into many.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Mapping

from dsl import functions, nodes
from dsl.types import (
    BOOL,
    DATE,
    DAYS,
    FISCAL_YEAR,
    INT,
    MONEY,
    MONTHS,
    NOTHING,
    RATE,
    TEXT,
    UNROUNDED_MONEY,
    YEAR_MONTH,
    YEARS,
    CountingType,
    ListType,
    RecordType,
    Type,
    list_of,
    record,
)
from standard_core.dates import DateError
from standard_core.diagnostics import Diagnostic, Span, error

ERROR = Type("error", "不明")
_NUMERIC = (INT, RATE)
_MONEYISH = (MONEY, UNROUNDED_MONEY)
_ROUND_HINT = "切り捨て(…)、四捨五入(…)、切り上げ(…) のどれかで端数の扱いを決めてください。"
_DURATIONS = (DAYS, MONTHS, YEARS)
_ORDERED = (INT, RATE, MONEY, UNROUNDED_MONEY, DATE, DAYS, MONTHS, YEARS, YEAR_MONTH, FISCAL_YEAR)
ELEMENT = "それ"  # the current element inside `のうち` / `ごとの`
_COUNTING_FUNCTIONS = {"件数": "count", "count": "count", "順番": "rank", "rank": "rank"}


def unify(a: Type, b: Type) -> Type | None:
    """The type both values can be seen as (for =, if-branches, list items), or None."""
    if a == ERROR or b == ERROR:
        return ERROR
    if a == b:
        return a
    if a in _NUMERIC and b in _NUMERIC:
        return RATE
    if a in _MONEYISH and b in _MONEYISH:
        return UNROUNDED_MONEY
    if isinstance(a, ListType) and isinstance(b, ListType):
        if a.item == NOTHING:
            return b
        if b.item == NOTHING:
            return a
        item = unify(a.item, b.item)
        return list_of(item) if item is not None else None
    if isinstance(a, RecordType) and isinstance(b, RecordType):
        # Records are structural: a literal {生年月日: …} is a 児童 when it has exactly 児童's fields.
        if [n for n, _ in a.fields] != [n for n, _ in b.fields]:
            return None
        if all(unify(x, y) == x for (_, x), (_, y) in zip(a.fields, b.fields, strict=True)):
            return a if a.name else b
        return None
    return None


def arithmetic(op: str, left: Type, right: Type) -> Type | None:
    """Result type of `left op right`, or None when the operation is not allowed."""
    if left in _NUMERIC and right in _NUMERIC:
        if op == "/" or RATE in (left, right):
            return RATE
        return INT
    # Calendar months and fiscal years move by whole months and years; their differences are durations.
    for period, step in ((YEAR_MONTH, MONTHS), (FISCAL_YEAR, YEARS)):
        if left == period and right == step and op in "+-":
            return period
        if left == step and right == period and op == "+":
            return period
        if left == right == period and op == "-":
            return step
    if left in _DURATIONS or right in _DURATIONS:
        if op in "+-" and left == right:
            return left
        if op in "+-" and left == DATE and right == DAYS:
            return DATE
        if op == "+" and left == DAYS and right == DATE:
            return DATE
        if op == "*" and {left, right} in ({INT, DAYS}, {INT, MONTHS}, {INT, YEARS}):
            return left if left != INT else right
        return None
    if op in "+-":
        if left in _MONEYISH and right in _MONEYISH:
            return MONEY if left == right == MONEY else UNROUNDED_MONEY
        if op == "+" and left == right == TEXT:
            return TEXT
        return None
    if op == "*":
        for a, b in ((left, right), (right, left)):
            if a in _MONEYISH and b in _NUMERIC:
                return MONEY if (a, b) == (MONEY, INT) else UNROUNDED_MONEY
        return None
    # division
    if left in _MONEYISH and right in _NUMERIC:
        return UNROUNDED_MONEY
    if left in _MONEYISH and right in _MONEYISH:
        return RATE
    return None


def _arithmetic_hint(op: str, left: Type, right: Type) -> str:
    pair = {left, right}
    if pair == {MONEY, INT} and op in "+-":
        return "整数に「円」をつけて金額にしてください（例: 500円）。"
    if DATE in pair and INT in pair:
        return "日付に足すのは日数です（例: 申請日 + 14日）。日後(日付, 日数) も使えます。"
    if DATE in pair and pair & {MONTHS, YEARS}:
        return "月や年を足すときは月末の扱いを決める必要があります: 月加算(日付, 1, 「末日」) を使ってください。"
    if len(pair & set(_DURATIONS)) == 2:
        return "日数・月数・年数は混ぜて計算できません（1か月は28〜31日で一定ではありません）。"
    if left == right == DATE and op == "-":
        return "日付の差は 日数(開始日, 終了日) を使ってください。"
    return "演算できる組み合わせは docs/dsl.md の「型」の表を見てください。"


class Checker:
    def __init__(self, scope: Mapping[str, Type], file: str, text: str) -> None:
        self.scope = dict(scope)
        self.file = file
        self.lines = text.split("\n")
        self.types: dict[int, Type] = {}
        self.diagnostics: list[Diagnostic] = []
        self.read: set[str] = set()  # names resolved in the given scope (not an element's fields)
        self._shadowed: frozenset[str] = frozenset()  # names an element scope currently binds

    def _error(self, code: str, message: str, span: Span, hint: str) -> Type:
        source = self.lines[span.line - 1] if 1 <= span.line <= len(self.lines) else None
        d = error(code, message, span, hint)
        self.diagnostics.append(Diagnostic(d.code, d.severity, d.message, d.span, d.hint, d.reference, source))
        return ERROR

    def _suggest(self, name: str, candidates: list[str]) -> str:
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
        return f"「{close[0]}」のことですか？" if close else ""

    def check(self, node: nodes.Expr) -> Type:
        t = self._check(node)
        self.types[id(node)] = t
        return t

    def _check(self, node: nodes.Expr) -> Type:
        match node:
            case nodes.IntLit():
                return INT
            case nodes.MoneyLit():
                return MONEY
            case nodes.RateLit():
                return RATE
            case nodes.DateLit():
                return DATE
            case nodes.TextLit():
                return TEXT
            case nodes.BoolLit():
                return BOOL
            case nodes.YearMonthLit():
                return YEAR_MONTH
            case nodes.FiscalYearLit():
                return FISCAL_YEAR
            case nodes.DurationLit(unit=unit):
                return {"days": DAYS, "months": MONTHS, "years": YEARS}[unit]
            case nodes.RecordLit(fields=fields):
                return record("", {name: self.check(value) for name, value in fields})
            case nodes.Where(items=items, condition=condition):
                t = self.check(items)
                if t == ERROR:
                    return ERROR
                if not isinstance(t, ListType):
                    return self._error("DSL212", f"「のうち」の左側は一覧でなければなりません（{t}です）", items.span,
                                       "例: 児童 のうち 生計費負担")
                with self._element_scope(t.item):
                    self._expect_bool(condition)
                return t
            case nodes.Each(items=items, value=value):
                t = self.check(items)
                if t == ERROR:
                    return ERROR
                if not isinstance(t, ListType):
                    return self._error("DSL212", f"「ごとの」の左側は一覧でなければなりません（{t}です）", items.span,
                                       "例: 受診 ごとの 自己負担額")
                with self._element_scope(t.item):
                    vt = self.check(value)
                return ERROR if vt == ERROR else list_of(vt)
            case nodes.ListLit(items=items):
                result: Type = list_of(NOTHING)
                for item in items:
                    t = self.check(item)
                    unified = unify(result, list_of(t))
                    if unified is None:
                        assert isinstance(result, ListType)
                        return self._error("DSL212", f"一覧の中に{result.item}と{t}が混ざっています", item.span,
                                           "一覧の値はすべて同じ型にしてください。")
                    result = unified
                return result
            case nodes.Name(name=name):
                declared = self.scope.get(name)
                if declared is None and name in functions.BUILTIN_NAMES:
                    return functions.BUILTIN_NAMES[name].type
                if declared is None:
                    suggestion = self._suggest(name, [*self.scope, *functions.BUILTIN_NAMES])
                    known = "、".join(sorted(self.scope)[:8]) or "（宣言された名前がありません）"
                    return self._error("DSL201", f"「{name}」という名前は宣言されていません", node.span,
                                       f"{suggestion}使える名前: {known}")
                if name not in self._shadowed:
                    self.read.add(name)
                return declared
            case nodes.Field(target=target, name=name):
                t = self.check(target)
                if t == ERROR:
                    return ERROR
                if not isinstance(t, RecordType):
                    return self._error("DSL202", f"{t}の値には項目「{name}」がありません", node.span,
                                       "「.」で項目を取り出せるのはレコード（例: 申請者.生年月日）だけです。")
                ft = t.field(name)
                if ft is None:
                    names = [n for n, _ in t.fields]
                    return self._error("DSL202", f"「{t}」に項目「{name}」はありません", node.span,
                                       f"{self._suggest(name, names)}項目: {'、'.join(names)}")
                return ft
            case nodes.Call():
                return self._call(node)
            case nodes.Negate(operand=operand):
                t = self.check(operand)
                if t in (ERROR, INT, RATE, MONEY, UNROUNDED_MONEY):
                    return t
                return self._error("DSL206", f"{t}に「-」はつけられません", node.span,
                                   "「-」をつけられるのは数と金額だけです。")
            case nodes.Binary(op=op, left=left, right=right):
                lt, rt = self.check(left), self.check(right)
                if ERROR in (lt, rt):
                    return ERROR
                result_type = arithmetic(op, lt, rt)
                if result_type is None:
                    return self._error("DSL206", f"{lt} {op} {rt} は計算できません", node.span,
                                       _arithmetic_hint(op, lt, rt))
                return result_type
            case nodes.Compare(op=op, left=left, right=right):
                lt, rt = self.check(left), self.check(right)
                unified = unify(lt, rt)
                if unified is None:
                    hint = ("金額と比べるなら「円」をつけてください（例: 500円）。" if {lt, rt} == {MONEY, INT}
                            else "年度は「2025年度」「令和7年度」と書いて比べます。" if {lt, rt} == {FISCAL_YEAR, INT}
                            else "同じ型の値どうしを比べてください（整数と割合、金額と端数つき金額は比べられます）。")
                    return self._error("DSL207", f"{lt}と{rt}は比べられません", node.span, hint)
                if op not in ("=", "!=") and unified not in (ERROR, *_ORDERED):
                    return self._error("DSL207", f"{unified}は大小を比べられません", node.span,
                                       "大小比較は数・金額・日付だけです。等しいかどうかは「=」で比べます。")
                return BOOL
            case nodes.Member(item=item, container=container):
                it, ct = self.check(item), self.check(container)
                if ERROR in (it, ct):
                    return BOOL
                if not isinstance(ct, ListType):
                    return self._error("DSL212", f"「in」の右側は一覧でなければなりません（{ct}です）", container.span,
                                       "例: 続柄 in [「子」, 「孫」]")
                if ct.item != NOTHING and unify(it, ct.item) is None:
                    return self._error("DSL212", f"{it}を{ct}の中から探すことはできません", node.span,
                                       "探す値と一覧の中身を同じ型にしてください。")
                return BOOL
            case nodes.Logical(left=left, right=right):
                self._expect_bool(left)
                self._expect_bool(right)
                return BOOL
            case nodes.Not(operand=operand):
                self._expect_bool(operand)
                return BOOL
            case nodes.If(condition=condition, then=then, otherwise=otherwise):
                self._expect_bool(condition)
                tt, et = self.check(then), self.check(otherwise)
                unified = unify(tt, et)
                if unified is None:
                    return self._error("DSL211", f"条件の分岐で型が違います（{tt}と{et}）", node.span,
                                       "どちらの場合も同じ型の値になるようにしてください。")
                return unified
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    @contextlib.contextmanager
    def _element_scope(self, item: Type) -> Iterator[None]:
        """Inside `のうち` / `ごとの`: the element is それ, and a record's fields are plain names."""
        saved, shadowed = dict(self.scope), self._shadowed
        self.scope[ELEMENT] = item
        bound = {ELEMENT}
        if isinstance(item, RecordType):
            self.scope.update(dict(item.fields))
            bound.update(name for name, _ in item.fields)
        self._shadowed = shadowed | bound
        try:
            yield
        finally:
            self.scope, self._shadowed = saved, shadowed

    def _counting_call(self, node: nodes.Call, arg_types: list[Type]) -> Type:
        kind = _COUNTING_FUNCTIONS[node.function]
        rule = arg_types[0]
        assert isinstance(rule, CountingType)
        wanted = 2 if kind == "count" else 3
        if len(arg_types) != wanted:
            usage = "件数(数え方, 一覧)" if kind == "count" else "順番(数え方, 一覧, 要素)"
            return self._error("DSL204", f"{node.function}の引数の数が違います（{len(arg_types)}個）", node.span,
                               f"書き方: {usage}")
        items = arg_types[1]
        if items != ERROR and (not isinstance(items, ListType) or unify(items.item, rule.item) is None):
            return self._error("DSL205", f"数え方「{rule.name}」は{rule.item}の一覧を数えます（{items}が渡されました）",
                               node.args[1].span, "数え方の対象と同じ型の一覧を渡してください。")
        if kind == "rank" and arg_types[2] != ERROR and unify(arg_types[2], rule.item) is None:
            return self._error("DSL205", f"順番を調べる要素は{rule.item}でなければなりません", node.args[2].span,
                               "例: 順番(多子, 家族, 対象児童)")
        return INT

    def _expect_bool(self, node: nodes.Expr) -> None:
        t = self.check(node)
        if t not in (BOOL, ERROR):
            self._error("DSL208", f"条件には真偽が必要ですが、{t}です", node.span,
                        "比較（例: 年齢 >= 18）で真偽にしてください。")

    def _call(self, node: nodes.Call) -> Type:
        arg_types = [self.check(a) for a in node.args]
        if node.function in _COUNTING_FUNCTIONS and arg_types and isinstance(arg_types[0], CountingType):
            return self._counting_call(node, arg_types)
        fn = functions.lookup(node.function)
        if fn is None:
            suggestion = self._suggest(node.function, functions.names())
            return self._error("DSL203", f"関数「{node.function}」はありません", node.span,
                               f"{suggestion}使える関数は docs/dsl.md の一覧にあります。")
        if ERROR in arg_types:
            return ERROR
        sig = fn.match(arg_types)
        if sig is None:
            arities = {len(s.params) for s in fn.signatures if not s.variadic}
            variadic = any(s.variadic for s in fn.signatures)
            if not variadic and len(arg_types) not in arities:
                return self._error("DSL204", f"{fn.name}の引数の数が違います（{len(arg_types)}個）", node.span,
                                   f"書き方: {fn.describe()}")
            given = "、".join(t.name for t in arg_types) or "なし"
            return self._error("DSL205", f"{fn.name}に渡した引数の型（{given}）が合いません", node.span,
                               f"書き方: {fn.describe()}")
        if fn.check_literal is not None:
            failed = False
            for index, arg in enumerate(node.args):
                if not isinstance(arg, nodes.TextLit):
                    continue
                try:
                    fn.check_literal(index, arg.value)
                except (functions.FunctionDomainError, DateError) as e:
                    hint = e.hint or f"書き方: {fn.describe()}"
                    self._error(fn.literal_code, str(e), arg.span, hint)
                    failed = True
            if failed:
                return ERROR
        return sig.result

    def expect(self, node: nodes.Expr, actual: Type, expected: Type | None, what: str) -> None:
        """Report a result of the wrong type for its use (a gateway condition must be 真偽, ...)."""
        if expected is None or actual in (ERROR, expected) or unify(expected, actual) == expected:
            return
        if expected == RATE and actual == INT:
            return
        if expected == MONEY and actual == UNROUNDED_MONEY:
            self._error("DSL210", f"{what}は金額でなければなりませんが、1円未満の端数が残っています", node.span,
                        _ROUND_HINT)
            return
        hint = "比較（例: 年齢 >= 18）で真偽にしてください。" if expected == BOOL else f"{expected}になる式を書いてください。"
        self._error("DSL209", f"{what}は{expected}でなければなりませんが、{actual}です", node.span, hint)

    def check_script(self, script: nodes.Script) -> dict[str, Type]:
        """Check statements in order; each assignment is visible to the ones after it."""
        assigned: dict[str, Type] = {}
        for stmt in script.statements:
            t = self.check(stmt.value)
            if t == UNROUNDED_MONEY:
                self._error("DSL210", "1円未満の端数が残る金額は保存できません", stmt.value.span, _ROUND_HINT)
                continue
            if t == ERROR:
                continue
            root, *path = stmt.target
            if path:
                self._check_field_target(stmt, t)
                continue
            declared = self.scope.get(root)
            if declared is not None and unify(declared, t) != declared:
                self._error("DSL213", f"「{root}」は{declared}として宣言されていますが、{t}を代入しています",
                            stmt.span, "代入する式の型を宣言に合わせてください。")
                continue
            self.scope[root] = declared or t
            assigned[root] = declared or t
        return assigned

    def _check_field_target(self, stmt: nodes.Assign, t: Type) -> None:
        current = self.scope.get(stmt.target[0])
        for part in stmt.target[1:]:
            if not isinstance(current, RecordType) or current.field(part) is None:
                self._error("DSL202", f"代入先「{'.'.join(stmt.target)}」は宣言された項目ではありません", stmt.span,
                            "レコードの項目に代入するには、その項目が宣言されている必要があります。")
                return
            current = current.field(part)
        assert current is not None
        if unify(current, t) != current:
            self._error("DSL213", f"「{'.'.join(stmt.target)}」は{current}ですが、{t}を代入しています", stmt.span,
                        "代入する式の型を項目の型に合わせてください。")
