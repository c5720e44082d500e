"""Forms: what a clerk fills in at a user task, and how a municipality may vary the core's forms.

The core declares each form in its BPMN: the user task's `jichi:field` elements (name, type, label, `required`,
`help`) and `jichi:check` conditions. These are **form variation points** (docs/forms.md): a pack may vary a
core form in `forms/*.toml` — relabel a field, add help, reorder, make a field required, add its own fields
under the local namespace `独自.`, and add stricter checks. It may never drop a core field (STD307), loosen a
core field or check (STD308), redefine a core field (STD309), add a field outside `独自.` (STD310) or vary what
the core does not declare (STD311); a malformed variation is STD312. Each diagnostic points at the line of
the offending edit.

A procedure is bound with the variations of the municipality's packs (prefecture first, then municipality),
and their files are part of the bundle a case pins (engine.registry), so a running case keeps its form.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dsl
from dsl.compiler import coerce
from dsl.context import EvalContext
from dsl.rules.model import RuleSet
from dsl.types import BOOL, RecordType, Type, record
from engine.bpmn.expressions import LOCAL_NAMESPACE, FieldCheck, resolve_type
from engine.bpmn.validate import ValidatedModel
from engine.bpmn.xml import BPMN_NS, JICHI_NS
from engine.packs import Pack
from engine.restricted import scrub
from engine.rulesets import read_sources
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

LOCAL = LOCAL_NAMESPACE
_B, _J = f"{{{BPMN_NS}}}", f"{{{JICHI_NS}}}"
_TOP_KEYS = ("process", "task", "order", "fields", "checks")
_FIELD_KEYS = ("label", "help", "required", "type")
_CHECK_KEYS = ("test", "message")
# Keys that say "take this away": refused with the code of what they would do, not as a typo.
_DROP_KEYS = ("omit", "hidden", "hide", "remove", "delete", "drop")
_LOOSEN_KEYS = ("disable", "off", "skip", "remove_checks", "disable_checks", "skip_checks", "omit_checks")
_HINT = ("様式の変更でできること: 見出し（label）・説明（help）・順序（order）・必須にする（required = true）・"
         f"団体独自の項目（[fields.\"{LOCAL}.名前\"] と type）・検査の追加（[[checks]] の test と message）。")


@dataclass(frozen=True)
class FormField:
    """One field of a form. A local field's name is `独自.名前`; its value lives in the case data under 独自."""

    name: str
    type: Type
    label: str
    help: str = ""
    required: bool = False
    local: bool = False

    @property
    def key(self) -> str:
        """The name inside its record: the field name, or for 独自.名前 the part after `独自.`."""
        return self.name[len(LOCAL) + 1:] if self.local else self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.name, "label": self.label, "help": self.help,
                "required": self.required, "local": self.local}


@dataclass(frozen=True)
class Form:
    """The form of one user task as it applies to a municipality: ordered fields and every check."""

    process_id: str
    task_id: str
    task_name: str
    fields: tuple[FormField, ...]
    checks: tuple[FieldCheck, ...] = ()
    variations: tuple[str, ...] = ()  # the files that varied the core form, in the order applied

    def types(self) -> dict[str, Type]:
        """The names an input may carry: core fields by name, local fields together as the record 独自."""
        found = {f.name: f.type for f in self.fields if not f.local}
        local = self.local_type()
        if local is not None:
            found[LOCAL] = local
        return found

    def local_type(self) -> RecordType | None:
        local = {f.key: f.type for f in self.fields if f.local}
        return record(LOCAL, local) if local else None

    def to_json(self) -> dict[str, Any]:
        return {"process_id": self.process_id, "task_id": self.task_id, "task": self.task_name,
                "fields": [f.to_json() for f in self.fields],
                "checks": [{"test": c.text, "message": c.message, "where": f"{c.where.file}:{c.where.line}"}
                           for c in self.checks],
                "variations": list(self.variations)}

    def accept(self, data: object, current: Mapping[str, Any],
               context: EvalContext | None) -> tuple[dict[str, Any], list[Diagnostic]]:
        """The values to store from a form post (`data`) on top of the task's `current` data, or why not.

        Unknown names and wrong types are ENG512; a required field left empty and a failed check are ENG518.
        All problems are reported at once; nothing is stored unless there are none.
        """
        where = Span("<入力>", 1, 1)
        what = f"「{self.task_name}」の入力"
        if not isinstance(data, Mapping):
            return {}, [error("ENG512", f"{what}は「項目名: 値」の JSON オブジェクトでなければなりません", where,
                              '例: {"申請日": "2026-04-01", "部数": 2}')]
        problems: list[Diagnostic] = []
        values: dict[str, Any] = {}
        core = {f.name: f for f in self.fields if not f.local}
        local = {f.key: f for f in self.fields if f.local}
        known = "、".join(f.name for f in self.fields) or "（入力項目なし）"
        for name, value in data.items():
            if name == LOCAL and local:
                if not isinstance(value, Mapping):
                    problems.append(error("ENG512", f"{what}: 「{LOCAL}」は団体独自の項目の JSON オブジェクトです",
                                          where, f'例: {{"{LOCAL}": {{"{next(iter(local))}": …}}}}'))
                    continue
                merged = dict(current.get(LOCAL) or {})
                for key, item in value.items():
                    problem = _input_problem(f"{LOCAL}.{key}", item, local.get(key), what, known)
                    if problem is None:
                        merged[key] = item
                    else:
                        problems.append(problem)
                values[LOCAL] = merged
                continue
            problem = _input_problem(name, value, core.get(name), what, known)
            if problem is None:
                values[name] = value
            else:
                problems.append(problem)
        if problems:
            return {}, problems
        after = {**current, **values}
        for f in self.fields:
            holder = after.get(LOCAL) or {} if f.local else after
            if f.required and (not isinstance(holder, Mapping) or holder.get(f.key) in (None, "")):
                problems.append(error("ENG518", f"「{f.label}」は必須の項目です", where,
                                      f"「{f.name}」を入力してください。"))
        if problems:
            return {}, problems  # a check would only repeat that a value is missing
        for check in self.checks:
            try:
                passed = check.expression.evaluate(after, context)
            except dsl.DslRuntimeError as e:
                # A value the check reads is missing or unreadable: the condition is not met.
                problems.append(error("ENG518", check.message, where, f"検査「{check.text}」を確かめられません"
                                      f"（{scrub(e.diagnostic.message, after)}）。"))
                continue
            if passed is not True:
                problems.append(error("ENG518", check.message, where, f"検査: {check.text}（{check.where.file}:"
                                      f"{check.where.line}）"))
        return (values, []) if not problems else ({}, problems)


def _input_problem(name: str, value: object, target: FormField | None, what: str, known: str) -> Diagnostic | None:
    """Why one posted value cannot be taken (an unknown name, or a value not of the field's type)."""
    where = Span("<入力>", 1, 1)
    if target is None:
        return error("ENG512", f"{what}に項目「{name}」はありません", where, f"入力できる項目: {known}")
    try:
        coerce(value, target.type, where, target.name)
    except dsl.DslRuntimeError as e:
        # the message quotes the value: never a restricted one (個人番号)
        return error("ENG512", f"{what}: {scrub(e.diagnostic.message, {name: value})}", where, e.diagnostic.hint)
    return None


# ---- the core's forms, from validated BPMN ---------------------------------------------------------------

FormKey = tuple[str, str]  # (process id, user task id): task ids are unique only within a file


def model_forms(model: ValidatedModel) -> dict[FormKey, Form]:
    """The form of every user task of the model's executable processes, by (process id, task id)."""
    forms: dict[FormKey, Form] = {}
    for process in model.source.root.iter(f"{_B}process"):
        scope = model.scopes.get(process.get("id") or "")
        if scope is None:
            continue
        for task in process.iter(f"{_B}userTask"):
            task_id = task.get("id") or ""
            ext = task.find(f"{_B}extensionElements")
            fields = []
            for decl in [] if ext is None else ext.iter(f"{_J}field"):
                name = (decl.get("name") or "").strip()
                t = scope.names.get(name)
                if t is not None:
                    fields.append(FormField(name, t, (decl.get("label") or name).strip(),
                                            (decl.get("help") or "").strip(), decl.get("required") == "true"))
            forms[(scope.process_id, task_id)] = Form(scope.process_id, task_id, task.get("name") or task_id, tuple(fields),
                                  tuple(scope.checks.get(task_id, ())))
    return forms


# ---- a pack's variation of a core form -------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChange:
    name: str
    line: int  # of its table header
    label: str | None = None
    help: str | None = None
    required: bool | None = None
    type: Type | None = None
    keys: tuple[tuple[str, int], ...] = ()  # each key's line

    def at(self, key: str) -> int:
        return dict(self.keys).get(key, self.line)


@dataclass(frozen=True)
class CheckChange:
    test: str
    message: str
    line: int


@dataclass(frozen=True)
class Variation:
    """One forms/*.toml file of a pack: changes to one core user task's form."""

    display: str
    text: str
    process_id: str
    task_id: str
    order: tuple[str, ...] = ()
    changes: tuple[FieldChange, ...] = ()
    checks: tuple[CheckChange, ...] = ()
    lines: dict[str, int] = field(default_factory=dict)  # "process" / "task" / "order" → line


class _Lines:
    """Line numbers of a TOML text's tables and keys (tomllib gives none): the position of an edit."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")

    def _header(self, line: str) -> str | None:
        match = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$", line)
        return match.group(1).replace('"', "").replace("'", "").replace(" ", "") if match else None

    def table(self, name: str, occurrence: int = 0) -> int:
        seen = 0
        for number, line in enumerate(self.lines, 1):
            if self._header(line) == name:
                if seen == occurrence:
                    return number
                seen += 1
        return 1

    def key(self, key: str, table: str | None = None, occurrence: int = 0) -> int:
        start = self.table(table, occurrence) if table is not None else 0
        for number in range(start + 1 if table else 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if table is not None and self._header(line) is not None:
                break
            if table is None and self._header(line) is not None:
                break
            if re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", line):
                return number
        return start or 1


def parse_variation(display: str, text: str, rules: RuleSet | None) -> tuple[Variation | None, list[Diagnostic]]:
    """Read one forms/*.toml file. Structure only: what it varies is checked by `apply_variation`."""
    lines = _Lines(text)
    found: list[Diagnostic] = []

    def bad(code: str, message: str, line: int, hint: str = _HINT) -> None:
        found.append(error(code, message, Span(display, line, 1), hint))

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        position = re.search(r"line (\d+)", str(e))
        bad("STD312", f"様式の変更のファイルを TOML として読めません: {e}", int(position.group(1)) if position else 1,
            "TOML の書き方（キー = 値、[fields.\"項目名\"]、[[checks]]）を確かめてください（docs/forms.md）。")
        return None, found
    for key in data:
        if key in _LOOSEN_KEYS:
            bad("STD308", f"「{key}」: 標準の検査は外せません", lines.key(key),
                "標準の検査はそのままです。団体の検査は [[checks]] で追加だけできます。")
        elif key not in _TOP_KEYS:
            bad("STD312", f"様式の変更に「{key}」は書けません", lines.key(key))
    process_id, task_id = data.get("process"), data.get("task")
    if not isinstance(process_id, str) or not isinstance(task_id, str):
        bad("STD312", "様式の変更には process（プロセス id）と task（ユーザータスクの id）が必要です", 1,
            '例: process = "Process_JidoTeateNintei" と task = "UserTask_Uketsuke"')
        return None, found
    order = data.get("order", [])
    if not isinstance(order, list) or not all(isinstance(o, str) for o in order):
        bad("STD312", "order は項目名の一覧です", lines.key("order"), '例: order = ["認定請求日", "児童"]')
        order = []
    changes = []
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        bad("STD312", "fields は項目ごとの表です", lines.key("fields"), '例: [fields."認定請求日"] と label = "請求日"')
        fields = {}
    for name, spec in fields.items():
        line = lines.table(f"fields.{name}")
        if not isinstance(spec, dict):
            bad("STD312", f"項目「{name}」の変更は表で書きます", line)
            continue
        keys = tuple((key, lines.key(key, f"fields.{name}")) for key in spec)
        change = FieldChange(name, line, keys=keys)
        for key, value in spec.items():
            at = dict(keys)[key]
            if key in _DROP_KEYS:
                bad("STD307", f"標準の項目「{name}」は削除・非表示にできません（{key}）" if LOCAL + "." not in name
                    else f"「{key}」は書けません（不要な団体独自の項目は定義ごと削除してください）", at,
                    "標準の項目は様式から外せません。見出し（label）・説明（help）・順序（order）は変えられます。")
            elif key in _LOOSEN_KEYS:
                bad("STD308", f"項目「{name}」の検査は外せません（{key}）", at, _HINT)
            elif key not in _FIELD_KEYS:
                bad("STD312", f"項目「{name}」に「{key}」は書けません", at)
            elif key == "required" and not isinstance(value, bool):
                bad("STD312", f"項目「{name}」の required は true か false です", at)
            elif key in ("label", "help") and not (isinstance(value, str) and value.strip()):
                bad("STD312", f"項目「{name}」の {key} は空でない文字列です", at)
            elif key == "type":
                t = resolve_type(value, rules) if isinstance(value, str) else None
                if t is None:
                    bad("STD312", f"項目「{name}」の型「{value}」はありません", at,
                        "整数・金額・日付・文字列・真偽などの型（一覧は「…の一覧」）を書いてください。")
                else:
                    change = replace(change, type=t)
            elif key == "required":
                change = replace(change, required=value)
            elif key == "label":
                change = replace(change, label=value.strip())
            else:
                change = replace(change, help=value.strip())
        changes.append(change)
    checks = []
    raw_checks = data.get("checks", [])
    if not isinstance(raw_checks, list):
        bad("STD312", "checks は [[checks]] の並びです", lines.key("checks"))
        raw_checks = []
    for number, spec in enumerate(raw_checks):
        line = lines.table("checks", number)
        if not isinstance(spec, dict):
            bad("STD312", "[[checks]] は test と message の表です", line)
            continue
        loosening = [key for key in spec if key in _LOOSEN_KEYS]
        for key in loosening:
            bad("STD308", f"標準の検査は外せません（{key}）", lines.key(key, "checks", number),
                "標準の検査はそのままです。団体の検査は test と message で追加だけできます。")
        if loosening:
            continue  # not a check at all: saying what else is missing would only add noise
        for key in spec:
            if key not in _CHECK_KEYS:
                bad("STD312", f"[[checks]] に「{key}」は書けません", lines.key(key, "checks", number),
                    "検査は test（真偽の式）と message（満たさないときに出す文）で書きます。")
        test, message = spec.get("test"), spec.get("message")
        if not (isinstance(test, str) and test.strip() and isinstance(message, str) and message.strip()):
            bad("STD312", "[[checks]] には test（式）と message（文）が必要です", line,
                'test = "独自.来庁者の続柄 != 「」" と message = "来庁者の続柄を入れてください" のように書きます。')
            continue
        checks.append(CheckChange(test.strip(), message.strip(), lines.key("test", "checks", number)))
    if any(d.is_error for d in found):
        return None, found
    return Variation(display, text, process_id, task_id, tuple(order), tuple(changes), tuple(checks),
                     {"process": lines.key("process"), "task": lines.key("task"), "order": lines.key("order")}), found


def apply_variation(form: Form, variation: Variation,
                    names: Mapping[str, Type]) -> tuple[Form | None, list[Diagnostic]]:
    """The form with the variation applied, or the conformance errors that refuse it.

    `names` are the typed names of the form's process (its scope), which a check may read.
    """
    found: list[Diagnostic] = []
    display = variation.display

    def bad(code: str, message: str, line: int, hint: str = _HINT) -> None:
        found.append(error(code, message, Span(display, line, 1), hint))

    fields = {f.name: f for f in form.fields}
    for change in variation.changes:
        current = fields.get(change.name)
        is_local = change.name.startswith(LOCAL + ".") and len(change.name) > len(LOCAL) + 1
        if current is None and not is_local:
            if change.type is not None:
                bad("STD310", f"団体独自の項目「{change.name}」は「{LOCAL}.」で始まる名前にしてください", change.line,
                    f"標準の項目と衝突しないよう、独自の項目は [fields.\"{LOCAL}.{change.name}\"] と書きます。")
            else:
                known = "、".join(fields) or "（項目なし）"
                bad("STD311", f"様式「{form.task_name}」に項目「{change.name}」はありません", change.line,
                    f"変えられる標準の項目: {known}。独自の項目は [fields.\"{LOCAL}.名前\"] と type で追加します。")
            continue
        if current is None:
            if change.type is None:
                bad("STD312", f"団体独自の項目「{change.name}」に type がありません", change.line,
                    '例: type = "文字列"')
                continue
            fields[change.name] = FormField(change.name, change.type, change.label or change.name[len(LOCAL) + 1:],
                                            change.help or "", bool(change.required), local=True)
            continue
        if change.type is not None and (not current.local or change.type != current.type):
            what = "標準の" if not current.local else "上位のパックの"
            bad("STD309", f"{what}項目「{change.name}」の型は変えられません（{current.type}）", change.at("type"),
                "型は標準データ項目の定義です。見出し・説明・必須は変えられます。")
            continue
        if change.required is False and current.required:
            bad("STD308", f"必須の項目「{change.name}」を任意にはできません", change.at("required"),
                "必須を外すことは、標準の検査を緩めることになります。必須にすること（required = true）だけができます。")
            continue
        fields[change.name] = replace(current, label=change.label or current.label, help=change.help or current.help,
                                      required=current.required or bool(change.required))
    for name in variation.order:
        if name not in fields:
            bad("STD311", f"order の「{name}」は様式「{form.task_name}」の項目ではありません",
                variation.lines.get("order", 1), f"項目: {'、'.join(fields)}")
    ordered = [fields[n] for n in variation.order if n in fields]
    ordered += [f for f in fields.values() if f not in ordered]
    draft = replace(form, fields=tuple(ordered))
    scope = {**names, **draft.types()}
    checks = list(form.checks)
    for check in variation.checks:
        try:
            expression = dsl.check_expression(check.test, scope, file=display, expected=BOOL)
        except DiagnosticError as e:
            first = e.diagnostics[0]
            bad("STD312", f"検査の式: {first.message}", check.line,
                first.hint or "真偽を返す jichi DSL の式を書いてください（docs/dsl.md）。")
            continue
        checks.append(FieldCheck(check.test, check.message, expression, Span(display, check.line, 1)))
    if any(d.is_error for d in found):
        return None, found
    return replace(draft, checks=tuple(checks), variations=(*form.variations, display)), found


def pack_form_files(directory: Path) -> list[Path]:
    return sorted((directory / "forms").glob("*.toml"))


def vary(forms: Mapping[FormKey, Form], scopes: Mapping[str, Mapping[str, Type]], variations: Iterable[Variation],
         targets: Iterable[FormKey] | None = None) -> tuple[dict[FormKey, Form], list[Diagnostic]]:
    """Apply variations in order to the forms they target, checking each target exists.

    `scopes`: process id → its typed names. `targets`, if given, are the forms a pack may vary (the
    core's); a variation of anything else is STD311.
    """
    result = dict(forms)
    allowed = None if targets is None else set(targets)
    found: list[Diagnostic] = []
    for variation in variations:
        key = (variation.process_id, variation.task_id)
        form = result.get(key)
        if form is None or (allowed is not None and key not in allowed):
            known_process = any(p == variation.process_id for p, _ in forms)
            line = variation.lines.get("task" if known_process else "process", 1)
            offered = sorted({f"{f.process_id} / {f.task_id}（{f.task_name}）" for f in forms.values()})
            found.append(error("STD311", f"標準の様式「{variation.process_id} / {variation.task_id}」はありません",
                               Span(variation.display, line, 1),
                               f"変えられる様式（標準の手続きのユーザータスク）: {'、'.join(offered[:12])}"))
            continue
        varied, problems = apply_variation(form, variation, scopes.get(form.process_id, {}))
        found.extend(problems)
        if varied is not None:
            result[key] = varied
    return result, found


def read_variations(files: Sequence[tuple[str, str]], rules_for: Callable[[str], RuleSet | None],
                    ) -> tuple[list[Variation], list[Diagnostic]]:
    """Parse each (display, text); a local field's type resolves in the rules of that file's pack."""
    variations, found = [], []
    for display, text in files:
        variation, problems = parse_variation(display, text, rules_for(display))
        found.extend(problems)
        if variation is not None:
            variations.append(variation)
    return variations, found


def core_form_targets(core: Iterable[ValidatedModel]) -> tuple[dict[FormKey, Form], dict[str, Mapping[str, Type]]]:
    """The forms of the core processes (the variation points) and the scopes their checks may read."""
    forms: dict[FormKey, Form] = {}
    scopes: dict[str, Mapping[str, Type]] = {}
    for model in core:
        forms.update(model_forms(model))
        scopes.update({pid: scope.names for pid, scope in model.scopes.items()})
    return forms, scopes


def is_form_file(display: str) -> bool:
    return display.endswith(".toml") and "/forms/" in f"/{display}"


def pack_variations(root: Path, packs: Sequence[Pack], core: Sequence[ValidatedModel],
                    rules_for: Callable[[Path], RuleSet | None]) -> tuple[dict[str, list[Variation]], list[Diagnostic]]:
    """Every pack's forms/*.toml, parsed and checked against the core forms as each pack's municipalities
    see them (the bases' variations first). Returns the clean variations by pack id and all diagnostics."""
    forms, scopes = core_form_targets(core)
    targets = set(forms)
    own: dict[str, list[Variation]] = {}
    found: list[Diagnostic] = []
    for pack in packs:
        files, unreadable = read_sources(pack_form_files(pack.directory), root, "STD312", "様式の変更のファイル")
        found.extend(unreadable)
        variations, problems = read_variations(files, lambda display: rules_for(root / display))
        own[pack.id] = variations
        found.extend(problems)
    for pack in packs:
        mine = {v.display for v in own[pack.id]}
        chain = [v for layer in (pack.layers or (pack.id,)) for v in own.get(layer, [])]
        _, problems = vary(forms, scopes, chain, targets)
        found.extend(d for d in problems if d.span.file in mine)
    return own, found

