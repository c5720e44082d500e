"""Version to version (`jichi pack diff OLD NEW`): what changed between two releases of one pack.

A vendor writes release notes from it, and a municipality reads it before activating a new version: which
parameter values were added or removed (with their periods and cites), which decisions gained, lost or
changed cases, which definitions, tests, procedures, form variations and calendar days came or went, and
what changed in pack.toml (version, core range, municipalities, base). Each side is a pack folder or a
`.jpack` archive (its files are checked against its manifest; who signed it is checked by `jichi pack install`,
not here). The comparison is of the parsed rules, not of lines, so moving a definition or re-indenting it is
not a change, and every change names the file and line on the side it comes from.

The report also says which part of the version should have gone up (semver.org): removing anything a
procedure or another layer may use (a definition, a parameter value, a municipality) is incompatible, so
major; adding or changing values is a minor change; tests and comments alone are a patch. A NEW version
that is not greater than OLD, or that raises less than the changes need, is a warning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from dsl.rules import nodes as r
from dsl.rules.build import parse_rules
from engine.fitgap import source_text
from engine.packs import Pack, load_pack
from standard_core.diagnostics import DiagnosticError, Span, error

# The level of version increase a change needs, by name (semver.org).
MAJOR, MINOR, PATCH = "メジャー", "マイナー", "パッチ"
_LEVELS = {PATCH: 0, MINOR: 1, MAJOR: 2}

# Compare definitions, not their layout: comments and runs of white space do not count.
_COMMENT = re.compile(r"#[^\n「」]*$", re.MULTILINE)
_SPACE = re.compile(r"\s+")


@dataclass
class Release:
    """The comparable contents of one side: pack.toml facts, rule items, processes, forms, calendar."""

    pack: Pack
    shown: str
    rules: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # processes/ and forms/ files → sha256
    changelog: str = ""


@dataclass
class ReleaseDiff:
    old: Release
    new: Release
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def needed(self) -> str:
        return max((c["level"] for c in self.changes), key=_LEVELS.__getitem__, default=PATCH)

    def bumped(self) -> str | None:
        """The level NEW raised the version by, or None when it did not go up."""
        try:
            old, new = Version(self.old.pack.version), Version(self.new.pack.version)
        except InvalidVersion:  # pragma: no cover - load_pack refuses a version that is not semver
            return None
        if new <= old:
            return None
        if new.major != old.major:
            return MAJOR
        return MINOR if new.minor != old.minor else PATCH

    def warnings(self) -> list[str]:
        out = []
        bumped = self.bumped()
        if self.old.pack.id != self.new.pack.id:
            out.append(f"パック id が違います（{self.old.pack.id} と {self.new.pack.id}）。同じパックの二つの版を比べてください。")
        if bumped is None:
            out.append(f"新しい版 {self.new.pack.version} が古い版 {self.old.pack.version} より大きくありません。")
        elif self.changes and _LEVELS[bumped] < _LEVELS[self.needed]:
            out.append(f"この変更には{self.needed}版の更新が必要です（{self.old.pack.version} → {self.new.pack.version} は"
                       f"{bumped}版の更新）。")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"pack": self.new.pack.id, "old": {"version": self.old.pack.version, "source": self.old.shown},
                "new": {"version": self.new.pack.version, "source": self.new.shown},
                "needed": self.needed, "bumped": self.bumped(), "warnings": self.warnings(),
                "changes": self.changes, "changelog": self.new_changelog()}

    def new_changelog(self) -> str:
        """The CHANGELOG.md sections of NEW for versions after OLD (the vendor's own words on the release)."""
        sections = re.split(r"(?m)^## ", self.new.changelog)
        kept = []
        for section in sections[1:]:
            heading = section.split("\n", 1)[0].strip()
            try:
                if Version(heading.split()[0]) <= Version(self.old.pack.version):
                    continue
            except (InvalidVersion, IndexError):
                pass
            kept.append("## " + section.rstrip())
        return "\n\n".join(kept)

    def lines(self) -> list[str]:
        p = self.new.pack
        out = [f"パック {p.id}: {self.old.pack.version} → {p.version}" + (f"（{p.name}）" if p.name else ""),
               f"  古い版: {self.old.shown}", f"  新しい版: {self.new.shown}",
               f"  必要な版の更新: {self.needed}" + (f"（実際: {self.bumped()}）" if self.bumped() else "")]
        out.extend(f"警告: {w}" for w in self.warnings())
        if not self.changes:
            out.append("  規則・手続き・様式・暦・pack.toml に違いはありません。")
        for change in self.changes:
            out.append(f"{change['mark']} {change['summary']}  {change['where']}")
            out.extend(f"      {d}" for d in change.get("details", []))
        log = self.new_changelog()
        if log:
            out.append("■ 新しい版の CHANGELOG.md")
            out.extend("  " + line if line else "" for line in log.splitlines())
        return out


def _normal(text: str) -> str:
    return _SPACE.sub(" ", _COMMENT.sub("", text)).strip()


def _text(lines: list[str], span: Span, next_line: int) -> str:
    end = span.end_line if span.end_line is not None else next_line - 1
    return _normal("\n".join(lines[span.line - 1:end]))


def _source(lines: list[str], span: Span) -> str:
    """A node's exact source (engine.fitgap.source_text), without comments, spaces normalised."""
    return _normal(source_text([_COMMENT.sub("", line) for line in lines], span))


def _key(item: r.Item) -> tuple[str, ...]:
    if isinstance(item, r.Parameter):
        return ("パラメータ", item.name, "追加" if item.setting else "")
    if isinstance(item, r.Decision):
        return ("決定", item.name, "追加" if item.extension else "", item.period.label() if item.period else "")
    if isinstance(item, r.Table):
        return ("表", item.name, item.period.label() if item.period else "")
    if isinstance(item, r.Test):
        return ("テスト", item.title)
    if isinstance(item, r.Inputs):
        return ("入力",)
    return ({r.Counting: "数え方", r.RecordTypeDecl: "型", r.EnumDecl: "列挙"}[type(item)], item.name)


def _read_rules(release: Release, path: Path, display: str, municipality: str | None) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    try:
        parsed = parse_rules(text, display)
    except DiagnosticError as e:
        raise DiagnosticError([error("PCK650", f"{release.shown} の規則ファイル {display} を読めないため比べられません",
                                     Span(display, 1, 1), "先に jichi check でその版の誤りを直してください。"),
                               *e.diagnostics]) from None
    starts = [item.span.line for item in parsed.items] + [len(lines) + 1]
    for item, next_line in zip(parsed.items, starts[1:], strict=True):
        key = (municipality or "", *_key(item))
        entry: dict[str, Any] = {"text": _text(lines, item.span, next_line), "where": f"{display}:{item.span.line}"}
        if isinstance(item, r.Parameter):
            entry["values"] = {v.period.start.isoformat(): {
                "period": v.period.label(), "end": v.period.end.isoformat() if v.period.end else None,
                "value": _source(lines, v.value.span), "cite": v.cite} for v in item.values}
        elif isinstance(item, r.Decision):
            entry["cases"] = {
                (c.label or ("それ以外" if c.otherwise else f"（{_source(lines, c.condition.span)}）"
                             if c.condition is not None else "")): {
                    "text": _normal(f"{_source(lines, c.condition.span) if c.condition is not None else 'それ以外'}"
                                    f" → {_source(lines, c.value.span)}"),
                    "cite": c.cite, "line": c.span.line}
                for c in item.cases}
        if key in release.rules:  # the same name twice is a load error; keep both apart for the report
            key = (*key, str(item.span.line))
        release.rules[key] = entry


def read_release(directory: Path, shown: str) -> Release:
    pack, problems = load_pack(directory, any_folder=True)
    if pack is None:
        raise DiagnosticError([error("PCK650", f"{shown} をパックとして読めないため比べられません", Span(shown, 1, 1),
                                     "パックのフォルダか、jichi pack build で作った .jpack を指定してください。"),
                               *(d for d in problems if d.is_error)])
    release = Release(pack, shown)
    own = {f: code for code, files in pack.municipal_rules for f in files}
    for path in pack.all_rule_files:
        _read_rules(release, path, path.relative_to(directory).as_posix(), own.get(path))
    for folder in ("processes", "forms"):
        for path in sorted((directory / folder).glob("*")):
            if path.is_file() and path.suffix in (".bpmn", ".toml"):
                release.files[path.relative_to(directory).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    log = directory / "CHANGELOG.md"
    if log.is_file():
        release.changelog = log.read_text(encoding="utf-8", errors="replace")
    return release


@contextmanager
def opened(argument: str, root: Path) -> Iterator[Release]:
    """A side of the comparison: a pack id under local_rules/, a pack folder, or a .jpack archive."""
    path = Path(argument)
    if path.suffix == ".jpack" and path.is_file():
        from engine.pack_archive import unpacked

        with tempfile.TemporaryDirectory(prefix="jichi-pack-") as tmp:
            folder = unpacked(path, Path(tmp))
            yield read_release(folder, argument)
        return
    if path.is_dir() and (path / "pack.toml").is_file():
        yield read_release(path, argument)
        return
    candidate = root / "local_rules" / argument
    if "/" not in argument and (candidate / "pack.toml").is_file():
        yield read_release(candidate, f"local_rules/{argument}")
        return
    raise DiagnosticError([error("PCK650", f"「{argument}」はパックのフォルダでも .jpack でもありません", Span(argument, 1, 1),
                                 "local_rules/ のパック id、パックのフォルダ（pack.toml がある）、または .jpack を指定します。")])


def compare(old: Release, new: Release) -> ReleaseDiff:
    diff = ReleaseDiff(old, new)
    _manifest(diff)
    _rules(diff)
    _files(diff)
    _calendar(diff)
    return diff


def _add(diff: ReleaseDiff, mark: str, level: str, summary: str, where: str, **more: Any) -> None:
    diff.changes.append({"mark": mark, "level": level, "summary": summary, "where": where, **more})


def _manifest(diff: ReleaseDiff) -> None:
    old, new = diff.old.pack, diff.new.pack
    removed = [m for m in old.municipalities if m not in new.municipalities]
    added = [m for m in new.municipalities if m not in old.municipalities]
    if removed:
        _add(diff, "削除", MAJOR, f"受け持つ団体から外した: {'、'.join(removed)}", "pack.toml", kind="municipalities")
    if added:
        _add(diff, "追加", MINOR, f"受け持つ団体に加えた: {'、'.join(added)}", "pack.toml", kind="municipalities")
    if old.core != new.core:
        _add(diff, "変更", MINOR, f"対応する標準の版: {old.core or '（指定なし）'} → {new.core or '（指定なし）'}", "pack.toml",
             kind="core")
    if old.base != new.base:
        _add(diff, "変更", MAJOR, f"上位のパック（base）: {old.base or 'なし'} → {new.base or 'なし'}", "pack.toml", kind="base")
    for key, title in (("name", "名前"), ("vendor", "提供")):
        before, after = getattr(old, key), getattr(new, key)
        if before != after:
            _add(diff, "変更", PATCH, f"{title}: {before or 'なし'} → {after or 'なし'}", "pack.toml", kind=key)


def _label(key: tuple[str, ...]) -> str:
    municipality, kind, name, *rest = key
    setting = "追加" in rest
    period = next((part for part in rest if part and part != "追加"), "")
    return ((f"団体 {municipality} のみ: " if municipality else "") + ("追加 " if setting else "") + f"{kind} {name}"
            + (f"（適用期間 {period}）" if period else ""))


def _covered(periods: list[tuple[dt.date, dt.date | None]], start: dt.date, end: dt.date | None) -> bool:
    """Whether the union of `periods` covers every day from start to end (None: open-ended)."""
    day: dt.date | None = start
    for begin, until in sorted(periods):
        if day is None or (end is not None and day > end):
            return True
        if begin > day:
            return False
        if until is None:
            return True
        if until >= day:
            day = until + dt.timedelta(days=1)
    return day is None or (end is not None and day > end)


def _rules(diff: ReleaseDiff) -> None:
    old, new = diff.old.rules, diff.new.rules
    for key in [k for k in old if k not in new]:
        level = PATCH if key[1] == "テスト" else MAJOR
        _add(diff, "削除", level, _label(key), old[key]["where"], kind="rule")
    for key in [k for k in new if k not in old]:
        level = PATCH if key[1] == "テスト" else MINOR
        values = [f"{v['period']} {v['value']}" + (f" 出典「{v['cite']}」" if v["cite"] else "")
                  for v in new[key].get("values", {}).values()]
        _add(diff, "追加", level, _label(key), new[key]["where"], kind="rule", details=values)
    for key in [k for k in new if k in old and new[k]["text"] != old[k]["text"]]:
        before, after = old[key], new[key]
        details: list[str] = []
        level = PATCH if key[1] == "テスト" else MINOR
        if "values" in after:
            for start in sorted(before["values"].keys() - after["values"].keys()):
                details.append(f"値を削除: {before['values'][start]['period']} {before['values'][start]['value']}")
            for start, v in sorted(after["values"].items()):
                was = before["values"].get(start)
                cite = f" 出典「{v['cite']}」" if v["cite"] else ""
                if was is None:
                    details.append(f"値を追加: {v['period']} {v['value']}{cite}")
                elif was["end"] != v["end"]:
                    details.append(f"期間を変更: {was['period']} → {v['period']}"
                                   + (f"、値 {was['value']} → {v['value']}" if was["value"] != v["value"] else "") + cite)
                elif was["value"] != v["value"] or was["cite"] != v["cite"]:
                    details.append(f"値を変更: {v['period']} {was['value']} → {v['value']}{cite}")
            # Days the old release could evaluate and the new one cannot break its users: major.
            spans = [(dt.date.fromisoformat(v["period"].split()[0]), dt.date.fromisoformat(v["end"]) if v["end"] else None)
                     for v in after["values"].values()]
            if not all(_covered(spans, dt.date.fromisoformat(start), dt.date.fromisoformat(v["end"]) if v["end"] else None)
                       for start, v in before["values"].items()):
                level = MAJOR
                details.append("古い版で値のあった日に、新しい版では値がありません（評価できなくなる日がある）。")
        if "cases" in after:
            for label in before["cases"].keys() - after["cases"].keys():
                details.append(f"場合を削除: 「{label}」 {before['cases'][label]['text']}")
                level = MAJOR
            for label, case in after["cases"].items():
                was = before["cases"].get(label)
                if was is None:
                    details.append(f"場合を追加: 「{label}」 {case['text']}" + (f" 出典「{case['cite']}」" if case["cite"] else ""))
                elif was != {**case, "line": was["line"]}:
                    details.append(f"場合を変更: 「{label}」 {was['text']} → {case['text']}"
                                   + (f" 出典「{case['cite']}」" if case["cite"] else ""))
        if not details:
            details.append("定義を変更（型・列・並び順・条件など）")
        _add(diff, "変更", level, _label(key), after["where"], kind="rule", details=details)


def _files(diff: ReleaseDiff) -> None:
    old, new = diff.old.files, diff.new.files
    for name in sorted(old.keys() - new.keys()):
        _add(diff, "削除", MAJOR, f"{'手続き' if name.endswith('.bpmn') else '様式の変更'} {name}", name, kind="file")
    for name in sorted(new.keys() - old.keys()):
        _add(diff, "追加", MINOR, f"{'手続き' if name.endswith('.bpmn') else '様式の変更'} {name}", name, kind="file")
    for name in sorted(n for n in new.keys() & old.keys() if new[n] != old[n]):
        _add(diff, "変更", MINOR, f"{'手続き' if name.endswith('.bpmn') else '様式の変更'} {name}"
             "（新しい案件から使われます。進行中の案件は開始時の定義のまま）", name, kind="file")


def _calendar(diff: ReleaseDiff) -> None:
    def days(pack: Pack) -> dict[str, str]:
        settings = pack.calendar
        if settings is None:
            return {}
        found = {f"休日 {h.day} {h.name}": h.cite for h in settings.local_holidays}
        if settings.year_end is not None:
            found[f"年末年始 {settings.year_end.start}〜{settings.year_end.end}"] = settings.year_end.cite
        return found

    before, after = days(diff.old.pack), days(diff.new.pack)
    for day in sorted(before.keys() - after.keys()):
        _add(diff, "削除", MAJOR, f"暦: {day}", "pack.toml", kind="calendar")
    for day in sorted(after.keys() - before.keys()):
        _add(diff, "追加", MINOR, f"暦: {day}", "pack.toml", kind="calendar",
             details=[f"出典「{after[day]}」"] if after[day] else [])


def to_text(diff: ReleaseDiff) -> str:
    return "\n".join(diff.lines())


def to_json_text(diff: ReleaseDiff) -> str:
    return json.dumps(diff.to_json(), ensure_ascii=False, indent=2)
