"""Turn Lark's parse errors into diagnostics with a stable code, a Japanese message and a fix hint.

Like Lark's own GRAMMAR_ERRORS, known mistakes are a table: each row recognises one situation
(Python pasted into a rule, `&&`, a full-width digit, `=` used for assignment, ...) and says how to
fix it. Rows are tried in order; the first that matches wins. Each row has a test in
tests/golden/dsl/syntax_bad.txt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lark import Lark, Token
from lark.exceptions import LexError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from standard_core.diagnostics import Diagnostic, Span, error

# What each terminal is called when we list what could have come instead.
TERMINAL_LABELS: dict[str, str] = {
    "NAME": "名前", "INT": "整数", "DECIMAL": "小数", "YEN": "金額（例: 500円）", "PERCENT": "割合（例: 10%）",
    "DATE_ISO": "日付", "WAREKI": "和暦の日付", "STRING": "文字列", "TRUE": "真", "FALSE": "偽",
    "LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]", "LBRACE": "{", "RBRACE": "}", "SEMICOLON": ";",
    "VBAR": "|", "COLON": ":", "ARROW": "=>", "COMMA": "、（,）", "DOT": ".",
    "COMP_OP": "比較（= < > など）", "ADD_OP": "+", "MINUS": "-", "MUL_OP": "* /", "AND": "かつ",
    "OR": "または", "NOT": "not", "IN": "in", "IF": "if", "THEN": "then", "ELSE": "else",
    "MOSHI": "もし", "NARABA": "ならば", "DENAKEREBA": "でなければ", "ASSIGN": ":=", "$END": "式の終わり",
}
_KEYWORDS_IN_NAMES = ("かつ", "または", "ならば", "でなければ", "もし")

_PYTHON = [
    re.compile(r"__\w+__"),
    re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\b)", re.M),
    re.compile(r"\b(lambda|def|class|return|yield|global|nonlocal)\b\s*[\w(:]"),
    re.compile(r"\b(os|sys|subprocess|builtins|importlib)\s*\."),
    re.compile(r"\b(open|exec|eval|compile|getattr|setattr|print|__import__)\s*\("),
    re.compile(r"\(\s*\)\s*\."),
]


@dataclass(frozen=True)
class _Failure:
    """What went wrong, reduced to what the table rows need."""

    text: str
    start: str  # "expression" or "script"
    line: int
    column: int
    token_type: str | None  # None for a character the lexer could not read
    token_value: str
    expected: frozenset[str]
    names: tuple[Token, ...]  # NAME tokens of the input, for keyword-glued-to-name detection
    labels: Mapping[str, str]  # anonymous keyword terminals (e.g. __ANON_3) → their text (かつ)


@dataclass(frozen=True)
class _Row:
    code: str
    applies: Callable[[_Failure], bool]
    message: Callable[[_Failure], str]
    hint: Callable[[_Failure], str]


def _glued_keyword(f: _Failure) -> Token | None:
    for tok in f.names:
        value = str(tok)
        if value not in _KEYWORDS_IN_NAMES and any(k in value for k in _KEYWORDS_IN_NAMES):
            return tok
    return None


def _here(f: _Failure, n: int) -> str:
    """The next n characters of the source at the failure (a token may be shorter, e.g. `|` of `||`)."""
    lines = f.text.split("\n")
    if f.line > len(lines):
        return ""
    return lines[f.line - 1][f.column - 1 : f.column - 1 + n]


def _fullwidth(ch: str) -> bool:
    return "\uff01" <= ch <= "\uff5e"


def _before(f: _Failure) -> str:
    lines = f.text.split("\n")
    return "\n".join([*lines[:f.line - 1], lines[f.line - 1][:f.column - 1]]) if f.line <= len(lines) else f.text


ROWS: tuple[_Row, ...] = (
    _Row(
        "DSL105",
        lambda f: any(p.search(f.text) for p in _PYTHON),
        lambda f: "Python のコードは書けません（jichi の式だけが使えます）",
        lambda f: "条件は「年齢 >= 18 かつ 課税 = 偽」のような式で、計算は「名前 := 式」で書いてください。"
        "Python は一切実行されません。",
    ),
    _Row(
        "DSL103",
        lambda f: _fullwidth(f.token_value[:1]),
        lambda f: f"全角文字「{f.token_value[:1]}」は使えません",
        lambda f: f"半角の「{unicodedata.normalize('NFKC', f.token_value[:1])}」で書いてください"
        "（数字・英字・記号は半角です）。",
    ),
    _Row(
        "DSL106",
        lambda f: _here(f, 2) in ("&&", "||") or (_here(f, 1) == "!" and _here(f, 2) != "!="),
        lambda f: f"「{_here(f, 2) if _here(f, 1) != '!' else '!'}」は使えません",
        lambda f: "論理演算は「かつ」（and）、「または」（or）、「not」で書きます。",
    ),
    _Row(
        "DSL104",
        lambda f: f.start == "script" and f.token_type == "COMP_OP" and "ASSIGN" in f.expected,
        lambda f: f"代入に「{f.token_value}」は使えません",
        lambda f: "代入は「名前 := 式」で書きます。「=」は比較（等しい）の意味です。",
    ),
    _Row(
        "DSL107",
        lambda f: f.token_type in ("COMP_OP", "IN") and bool(re.search(r"[=<>≠≤≥]|\bin\b", _before(f))),
        lambda f: "比較を続けて書くことはできません",
        lambda f: "「a < b < c」ではなく「a < b かつ b < c」と書いてください。",
    ),
    _Row(
        "DSL108",
        lambda f: _glued_keyword(f) is not None,
        lambda f: f"「{_glued_keyword(f)}」の中にキーワードがつながっています",
        lambda f: "「かつ」「または」「もし」「ならば」「でなければ」の前後には空白を入れてください"
        "（例: 年齢 >= 3 かつ 課税）。",
    ),
    _Row(
        "DSL110",
        lambda f: f.token_value == "," and bool(re.search(r"[0-9]$", _before(f)))
        and bool(re.match(r"[0-9]{3}", f.text.split("\n")[f.line - 1][f.column:])),
        lambda f: "数の桁区切りのカンマは使えません",
        lambda f: "金額なら「15,000円」、整数なら「15000」と書いてください。",
    ),
    _Row(
        "DSL111",
        lambda f: f.token_type is None and f.token_value[:1] in ('"', "「"),
        lambda f: "文字列が閉じられていません",
        lambda f: "文字列は同じ行の中で \"…\" または「…」と閉じてください。",
    ),
    _Row(
        "DSL113",
        lambda f: f.token_type == "$END" and f.start == "expression" and not f.names and _only_blank(f),
        lambda f: "式が空です",
        lambda f: "条件や計算式を書いてください（例: 年齢 >= 18）。",
    ),
    _Row(
        "DSL102",
        lambda f: f.token_type == "$END",
        lambda f: "式が途中で終わっています",
        lambda f: f"続けて{_expected_text(f)}を書いてください。",
    ),
    _Row(
        "DSL101",
        lambda f: f.token_type is None,
        lambda f: f"使えない文字「{f.token_value[:1]}」があります",
        lambda f: "名前・数・金額・日付・文字列と演算子だけが書けます。",
    ),
    _Row(
        "DSL101",
        lambda f: True,
        lambda f: f"「{f.token_value}」はここには書けません",
        lambda f: _unexpected_hint(f),
    ),
)


def _only_blank(f: _Failure) -> bool:
    return all(line.strip(" \t\r\u3000") == "" or line.strip().startswith("#") for line in f.text.split("\n"))


_OPERAND_STARTS = {"NAME", "INT", "YEN", "DATE_ISO", "STRING", "LPAR"}
def _unexpected_hint(f: _Failure) -> str:
    # After a complete value the parser accepts binary operators; the exact set also depends on the
    # enclosing construct (a rule file's `;`, a table's `|`), so test for the operators alone.
    if "ADD_OP" in f.expected or "MUL_OP" in f.expected:
        return "前の値とのあいだに演算子（+ - * / = < > など）か「かつ」「または」が必要です。"
    return f"ここには{_expected_text(f)}が来るはずです。"


_ITEM_STARTS = {"_KW_KETTEI", "_KW_PARAMETER", "_KW_HYO"}
_CLOSERS = ("RPAR", "RSQB", "RBRACE", "SEMICOLON", "VBAR")


def _expected_text(f: _Failure) -> str:
    if f.expected >= _OPERAND_STARTS:
        return "値（名前・数・金額・日付・文字列）か「(」"
    if f.expected >= _ITEM_STARTS:
        return "定義（「決定」「表」「パラメータ」「入力」「型」「列挙」「数え方」「テスト」）"
    expected = f.expected
    if f.token_type == "$END" and any(c in expected for c in _CLOSERS):
        # At the end of the input, what is missing is what closes: a bracket, a `;`, a `}`.
        expected = frozenset(c for c in _CLOSERS if c in expected)
    labels = sorted({label for t in expected if (label := f.labels.get(t, TERMINAL_LABELS.get(t)))})
    if not labels:
        return "式の続き"
    shown = labels[:6]
    return "「" + "」「".join(shown) + "」" + ("など" if len(labels) > 6 else "")


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank character (1-based): where input ended."""
    stripped = text.rstrip(" \t\r\n\u3000")
    lines = stripped.split("\n")
    return len(lines), len(lines[-1]) + 1


def _keyword_labels(parser: Lark) -> dict[str, str]:
    return {
        t.name: t.pattern.value for t in parser.terminals
        if isinstance(t.pattern, PatternStr) and t.name not in TERMINAL_LABELS
    }


def _names(text: str, parser: Lark) -> tuple[Token, ...]:
    found: list[Token] = []
    try:
        for tok in parser.lex(text):
            if tok.type == "NAME":
                found.append(tok)
    except (LexError, UnexpectedInput):
        pass  # the tokens before the bad character are all we need
    return tuple(found)


def _position(code: str, f: _Failure) -> tuple[int, int]:
    """Where the caret goes: usually the failing token, but the cause when a row knows better."""
    if code == "DSL113":
        return 1, 1
    if code == "DSL108" and (glued := _glued_keyword(f)) is not None:
        return glued.line or f.line, glued.column or f.column
    if code == "DSL105":
        starts = [m.start() for p in _PYTHON if (m := p.search(f.text))]
        offset = min(starts)
        line = f.text.count("\n", 0, offset) + 1
        return line, offset - (f.text.rfind("\n", 0, offset) + 1) + 1
    return f.line, f.column


def explain_syntax_error(text: str, file: str, start: str, e: UnexpectedInput, parser: Lark) -> Diagnostic:
    """The diagnostic for a Lark parse failure: position, code, message and hint from ROWS."""
    if isinstance(e, UnexpectedToken):
        tok = e.token
        token_type: str | None = tok.type
        value = str(tok)
        expected = frozenset(e.expected or ())
        if tok.type == "$END":
            line, column = _end_position(text)
        else:
            line, column = tok.line or 1, tok.column or 1
    elif isinstance(e, UnexpectedCharacters):
        token_type = None
        line, column = e.line, e.column
        pos = e.pos_in_stream or 0
        value = text[pos : pos + 2]
        expected = frozenset(e.allowed or ())
    else:  # UnexpectedEOF and anything Lark adds later
        token_type = "$END"
        line, column = _end_position(text)
        value = ""
        expected = frozenset(getattr(e, "expected", ()) or ())
    line, column = max(line, 1), max(column, 1)
    failure = _Failure(text, start, line, column, token_type, value, expected, _names(text, parser),
                       _keyword_labels(parser))
    for row in ROWS:
        if row.applies(failure):
            span_line, span_col = _position(row.code, failure)
            lines = text.split("\n")
            source = lines[span_line - 1] if span_line <= len(lines) else None
            d = error(row.code, row.message(failure), Span(file, span_line, span_col), row.hint(failure))
            return Diagnostic(d.code, d.severity, d.message, d.span, d.hint, d.reference, source)
    raise AssertionError("the last row matches everything")  # pragma: no cover
