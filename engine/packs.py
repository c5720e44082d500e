"""Rule packs: the minimal pack.toml format and its loader.

A pack is a folder `local_rules/<id>/` holding data only (never imported as Python):

    pack.toml          id, version, municipalities, optional base, name, vendor, [calendar]
                       ([calendar]: the municipality's closed days, parsed by engine/pack_calendar.py)
    processes/*.bpmn   local procedures
    rules/*.rules      DSL rule files, for every municipality the pack serves
    rules/<code>/*.rules  per-municipality rule files (parameter values, exceptions, tests) of one served
                       municipality, loaded after the pack's shared files for that municipality only
    CHANGELOG.md

Packs layer core → prefecture → municipality through `base`. Every problem is a Diagnostic (PCK6xx,
docs/errors.md) with the line of pack.toml it concerns; nothing here raises on bad input.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from difflib import get_close_matches
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from engine.pack_calendar import parse_calendar
from standard_core.diagnostics import Diagnostic, Span, error, has_errors, warning
from standard_core.municipal_calendar import CalendarSettings

MANIFEST = "pack.toml"

REQUIRED_KEYS = ("id", "version", "municipalities")
OPTIONAL_KEYS = ("base", "name", "vendor", "core", "calendar")
KNOWN_KEYS = REQUIRED_KEYS + OPTIONAL_KEYS

# ASCII only, so ids are safe in URLs, file names and archives: "<code>-<name>", e.g. "141305-kawasaki".
PACK_ID = re.compile(r"(?P<code>[0-9]{6})-[a-z0-9]+(?:-[a-z0-9]+)*")
# semver.org 2.0.0, the recommended regular expression.
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)
ASCII_CODE = re.compile(r"[0-9]{6}")
TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
# tomllib's messages (English) → Japanese; the original stays in parentheses for searching.
TOML_REASONS = (
    (
        "Expected newline or end of document",
        "値の後に余分な文字があります（文字列の引用符を忘れていませんか）",
    ),
    ("Invalid value", "値の書き方が正しくありません（文字列は引用符で囲みます）"),
    ("Unterminated string", "文字列の引用符が閉じられていません"),
    ("Unclosed array", "一覧の ] が閉じられていません"),
    ("Unclosed inline table", "インライン表の } が閉じられていません"),
    ("Expected '=' after a key", "項目名の後に = がありません"),
    ("Cannot declare", "同じ項目が二回書かれています"),
    ("Cannot overwrite a value", "同じ項目が二回書かれています"),
    ("Invalid statement", "行の書き方が正しくありません"),
    (
        "Invalid initial character for a key part",
        "項目名に使えない文字があります（日本語の項目名は引用符で囲みます）",
    ),
    ("Illegal character", "使えない制御文字があります"),
)


@dataclass(frozen=True, slots=True)
class Pack:
    """A loaded pack.toml and the files of its folder.

    `layers` lists pack ids from the outermost base to this pack (e.g. ("270008-osaka", "272183-daito"));
    discover_packs fills it, load_pack alone leaves it empty because bases live in sibling folders.
    """

    id: str
    version: str
    municipalities: tuple[str, ...]
    directory: Path
    base: str | None = None
    name: str | None = None
    vendor: str | None = None
    process_files: tuple[Path, ...] = ()
    rule_files: tuple[Path, ...] = ()
    # (municipality code, its rule files) for each rules/<code>/ folder, in code order
    municipal_rules: tuple[tuple[str, tuple[Path, ...]], ...] = ()
    layers: tuple[str, ...] = ()
    calendar: CalendarSettings | None = None
    core: str | None = None  # the range of standard core versions it was tested with (">=0.2.0,<0.3.0")

    @property
    def manifest(self) -> Path:
        return self.directory / MANIFEST

    def rule_files_for(self, code: str | None) -> tuple[Path, ...]:
        """The pack's shared rule files, then those of rules/<code>/ when the pack has that folder."""
        own = dict(self.municipal_rules).get(code, ()) if code is not None else ()
        return self.rule_files + own

    @property
    def all_rule_files(self) -> tuple[Path, ...]:
        return self.rule_files + tuple(f for _, files in self.municipal_rules for f in files)

    def serves(self, code: str) -> bool:
        """Whether `code` is listed, or lies in a prefecture whose code is listed (a prefecture pack)."""
        return serves(self.municipalities, code)


def serves(municipalities: Iterable[str], code: str) -> bool:
    """`code` is listed, or lies in a prefecture whose code is listed (a prefecture pack serves its own)."""
    return any(code == m or (m[2:5] == "000" and code[:2] == m[:2]) for m in municipalities)


def check_digit(first_five: str) -> int:
    """The check digit of a 全国地方公共団体コード from its first five digits."""
    weights = (6, 5, 4, 3, 2)
    r = sum(w * int(d) for w, d in zip(weights, first_five, strict=True)) % 11
    return (11 - r) % 10


def is_valid_code(code: str) -> bool:
    """True for six ASCII digits whose last digit is the check digit of the first five."""
    return ASCII_CODE.fullmatch(code) is not None and int(code[5]) == check_digit(code[:5])


class _Source:
    """pack.toml text with helpers to find where a key or a value is written."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.file = str(path)
        self.lines = text.splitlines()

    def span(self, line: int = 1, column: int = 1) -> Span:
        return Span(self.file, line, column)

    def excerpt(self, line: int) -> str | None:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else None

    def key_position(self, key: str) -> tuple[int, int] | None:
        """Line and column of the value of top-level `key = …` (before any [table] header)."""
        pattern = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=\s*""")
        for number, text in enumerate(self.lines, start=1):
            if text.lstrip().startswith("["):
                return None
            m = pattern.match(text)
            if m:
                return number, m.end() + 1
        return None

    def value_position(self, key: str, value: str) -> tuple[int, int] | None:
        """Position of the quoted string `value` at or after `key =` (list items span several lines)."""
        start = self.key_position(key)
        if start is None:
            return None
        for number in range(start[0], len(self.lines) + 1):
            text = self.lines[number - 1]
            for quote in ('"', "'"):
                column = text.find(f"{quote}{value}{quote}")
                if column >= 0:
                    return number, column + 1
        return start

    def at(
        self,
        position: tuple[int, int] | None,
        code: str,
        message: str,
        hint: str,
        *,
        is_warning: bool = False,
    ) -> Diagnostic:
        line, column = position or (1, 1)
        make = warning if is_warning else error
        return replace(make(code, message, self.span(line, column), hint), source_line=self.excerpt(line))


def load_pack(directory: Path, *, any_folder: bool = False) -> tuple[Pack | None, list[Diagnostic]]:
    """Load `directory/pack.toml`. Returns the pack (None if it has any error) and every diagnostic found.

    `any_folder` accepts a folder not named after the pack (a release kept aside for `jichi pack diff OLD NEW`);
    under local_rules/ the folder name must be the id (PCK610).
    """
    pack, diagnostics, _ = _read_pack(directory, any_folder=any_folder)
    return pack, diagnostics


def _read_pack(directory: Path, *, any_folder: bool = False) -> tuple[Pack | None, list[Diagnostic], str | None]:
    """load_pack, also returning the id the manifest declares (even when the pack has errors)."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return (
            None,
            [
                error(
                    "PCK602",
                    f"パックのフォルダ「{directory.name}」に {MANIFEST} がありません。",
                    Span(str(manifest), 1, 1),
                    hint=f"{MANIFEST} に id、version、municipalities を書いてください"
                    "（例は local_rules/141305-kawasaki/pack.toml）。"
                    "パックでないフォルダは local_rules/ の外へ移してください。",
                )
            ],
            None,
        )
    try:
        text = manifest.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        return (
            None,
            [
                error(
                    "PCK615",
                    f"{MANIFEST} が UTF-8 として読めません（{e.start + 1} バイト目）。",
                    Span(str(manifest), 1, 1),
                    hint="エディタで文字コードを UTF-8（BOM なし）にして保存し直してください。",
                )
            ],
            None,
        )
    source = _Source(manifest, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return None, [_toml_error(source, e)], None

    diagnostics: list[Diagnostic] = []
    for key in REQUIRED_KEYS:
        if key not in data:
            diagnostics.append(
                source.at(
                    None,
                    "PCK603",
                    f"必須の項目「{key}」がありません。",
                    f"{MANIFEST} の先頭（最初の [表] より前）に `{key} = …` を追加してください。",
                )
            )
    for key in data:
        if key not in KNOWN_KEYS:
            close = get_close_matches(key, KNOWN_KEYS, n=1)
            hint = (
                f"「{close[0]}」の書き間違いではありませんか。"
                if close
                else (f"使える項目は {', '.join(KNOWN_KEYS)} です。")
            )
            diagnostics.append(
                source.at(
                    source.key_position(key),
                    "PCK614",
                    f"未知の項目「{key}」は無視されます。",
                    hint,
                    is_warning=True,
                )
            )

    pack_id = _string(source, data, "id", diagnostics)
    version = _string(source, data, "version", diagnostics)
    base = _string(source, data, "base", diagnostics)
    name = _string(source, data, "name", diagnostics)
    vendor = _string(source, data, "vendor", diagnostics)
    municipalities = _municipalities(source, data, diagnostics)
    calendar = parse_calendar(source, data.get("calendar"), pack_id or directory.name, diagnostics)
    core = _string(source, data, "core", diagnostics)
    if core is not None:
        diagnostics.extend(_check_core(source, core, directory))

    if pack_id is not None:
        diagnostics.extend(d for d in _check_id(source, pack_id, directory) if not (any_folder and d.code == "PCK610"))
    if version is not None and SEMVER.fullmatch(version) is None:
        diagnostics.append(
            source.at(
                source.key_position("version"),
                "PCK606",
                f"version「{version}」はセマンティックバージョンではありません。",
                '「メジャー.マイナー.パッチ」の形で書いてください（例: "1.0.0"、"1.2.0-rc.1"）。'
                "規則の変更は少なくともマイナー、互換性のない変更はメジャーを上げます。",
            )
        )
    if base is not None and base == pack_id:
        diagnostics.append(
            source.at(
                source.key_position("base"),
                "PCK613",
                f"パック「{base}」が自分自身を base にしています。",
                'base には上位のパック（例: 都道府県のパック "270008-osaka"）の id を書くか、'
                "base の行を削除してください。",
            )
        )

    diagnostics.extend(_code_files(directory))
    municipal_rules = _municipal_rules(directory, municipalities or (), diagnostics)
    if has_errors(diagnostics) or pack_id is None or version is None or municipalities is None:
        return None, diagnostics, pack_id
    pack = Pack(
        id=pack_id,
        version=version,
        municipalities=municipalities,
        directory=directory,
        base=base,
        name=name,
        vendor=vendor,
        process_files=tuple(sorted((directory / "processes").glob("*.bpmn"))),
        rule_files=tuple(sorted((directory / "rules").glob("*.rules"))),
        municipal_rules=municipal_rules,
        calendar=calendar,
        core=core,
    )
    return pack, diagnostics, pack_id


def _municipal_rules(directory: Path, municipalities: tuple[str, ...],
                     out: list[Diagnostic]) -> tuple[tuple[str, tuple[Path, ...]], ...]:
    """The rules/<code>/ folders: each must be named by a code the pack serves (PCK618)."""
    found = []
    rules = directory / "rules"
    for folder in sorted(p for p in rules.iterdir() if p.is_dir()) if rules.is_dir() else ():
        if folder.name.startswith((".", "_")):
            continue
        code = folder.name
        if not is_valid_code(code) or not serves(municipalities, code):
            listed = "、".join(municipalities) or "なし"
            out.append(error(
                "PCK618", f"rules/{code}/ は、このパックが受け持つ団体のコードのフォルダではありません",
                Span(str(folder), 1, 1),
                f"団体ごとの規則は rules/団体コード6桁/ に置きます（このパックの municipalities: {listed}）。"
                "団体を増やすときは pack.toml の municipalities にも加えてください。"))
            continue
        found.append((code, tuple(sorted(folder.glob("*.rules")))))
    return tuple(found)


def _core_version(directory: Path) -> str | None:
    """The version of the standard core the pack folder sits under (standard_core/VERSION), if any."""
    for parent in list(directory.resolve().parents)[:3]:
        version = parent / "standard_core" / "VERSION"
        if version.is_file():
            return version.read_text(encoding="utf-8").strip()
    return None


def _check_core(source: _Source, core: str, directory: Path) -> list[Diagnostic]:
    """PCK616 for a core range that is not a version range; PCK617 when the core here is outside it."""
    where = source.key_position("core")
    try:
        supported = SpecifierSet(core)
    except InvalidSpecifier:
        return [source.at(where, "PCK616", f"core「{core}」は標準の版の範囲として読めません。",
                          '例: core = ">=0.2.0,<0.3.0"（この範囲の標準の版で動くことをパックのテストで確かめた）。')]
    current = _core_version(directory)
    if current is not None and not supported.contains(current, prereleases=True):
        return [source.at(where, "PCK617", f"このパックは標準 {core} 用で、ここの標準は {current} です。",
                          "ベンダーに、この標準の版で jichi pack test を通した版を求めてください。"
                          "確かめずに範囲だけを書き換えないでください。")]
    return []


# Files a pack may not carry: Python (source, bytecode, archives) and native extension modules. A pack is data;
# nothing in it is imported or executed (docs/dsl.md「標準の拡張点」).
CODE_SUFFIXES = frozenset({".py", ".pyw", ".pyc", ".pyo", ".pyz", ".pyd", ".so", ".pth", ".ipynb"})


def _code_files(directory: Path) -> list[Diagnostic]:
    """STD306 for every program file anywhere in the pack folder, at the file itself."""
    found = []
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix.lower() in CODE_SUFFIXES:
            found.append(error(
                "STD306", f"パックにプログラムのファイル「{path.relative_to(directory).as_posix()}」があります",
                Span(str(path), 1, 1),
                "パックはデータだけで作ります。計算・判定は規則ファイル（rules/*.rules）の決定・表に、手順は "
                "processes/*.bpmn（標準のフックへの取り付け）に書き、このファイルは削除してください。"))
    return found


def discover_packs(local_rules_dir: Path) -> tuple[list[Pack], list[Diagnostic]]:
    """Load every pack folder under local_rules_dir, resolve bases and detect cycles.

    Returns the packs that are fully valid (their own pack.toml and their whole base chain), sorted by id,
    each with `layers` filled, and every diagnostic found. Folders whose names start with '.' or '_' are
    skipped; a missing local_rules_dir means no packs.
    """
    if not local_rules_dir.is_dir():
        return [], []
    diagnostics: list[Diagnostic] = []
    results = [
        (directory, *_read_pack(directory))
        for directory in sorted(p for p in local_rules_dir.iterdir() if p.is_dir())
        if not directory.name.startswith((".", "_"))
    ]
    # When several folders declare one id, the folder named after it owns the id (the others are copies).
    owners: dict[str, Path] = {}
    for directory, _, _, declared in sorted(results, key=lambda r: (r[0].name != r[3], r[0].name)):
        if declared is not None:
            owners.setdefault(declared, directory)
    loaded: dict[str, Pack] = {}
    for directory, pack, found, declared in results:
        diagnostics.extend(found)
        owner = owners.get(declared) if declared is not None else None
        if owner is not None and owner != directory:
            source = _Source(directory / MANIFEST, (directory / MANIFEST).read_text(encoding="utf-8"))
            diagnostics.append(
                source.at(
                    source.key_position("id"),
                    "PCK611",
                    f"パック id「{declared}」はフォルダ「{owner.name}」でも使われています。",
                    "パック id は一意にしてください。"
                    "フォルダを複製した場合は id とフォルダ名を新しい名前に変えてください。",
                )
            )
            continue
        if pack is not None:
            loaded[pack.id] = pack

    resolved, base_diagnostics = _resolve_layers(loaded)
    diagnostics.extend(base_diagnostics)
    return [resolved[pid] for pid in sorted(resolved)], diagnostics


def _resolve_layers(packs: Mapping[str, Pack]) -> tuple[dict[str, Pack], list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    chains: dict[str, tuple[str, ...] | None] = {}  # None: the chain is broken

    def chain_of(pack_id: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        if pack_id in chains:
            return chains[pack_id]
        pack = packs[pack_id]
        if pack.base is None:
            chains[pack_id] = (pack_id,)
            return chains[pack_id]
        source = _Source(pack.manifest, pack.manifest.read_text(encoding="utf-8"))
        position = source.key_position("base")
        if pack.base in seen:
            cycle = " → ".join((*seen[seen.index(pack.base) :], pack_id, pack.base))
            diagnostics.append(
                source.at(
                    position,
                    "PCK613",
                    f"base が循環しています: {cycle}。",
                    "base は 標準 → 都道府県 → 市区町村 の一方向に並べてください。"
                    "循環のどこか一つの base を削除してください。",
                )
            )
            for member in (*seen[seen.index(pack.base) :], pack_id):
                chains[member] = None
            return None
        if pack.base not in packs:
            known = get_close_matches(pack.base, list(packs), n=1)
            hint = (
                f"「{known[0]}」のことではありませんか。"
                if known
                else ("base にはこのフォルダ（local_rules/）にあるパックの id を書いてください。")
            )
            diagnostics.append(
                source.at(
                    position,
                    "PCK612",
                    f"base のパック「{pack.base}」が見つかりません（または読み込めませんでした）。",
                    hint,
                )
            )
            chains[pack_id] = None
            return None
        parent = chain_of(pack.base, (*seen, pack_id))
        if pack_id in chains:  # already decided while reporting a cycle through this pack
            return chains[pack_id]
        if parent is None:
            diagnostics.append(
                source.at(
                    position,
                    "PCK612",
                    f"base のパック「{pack.base}」にエラーがあるため、このパックも使えません。",
                    f"先に「{pack.base}」の診断を直してください。",
                )
            )
        chains[pack_id] = None if parent is None else (*parent, pack_id)
        return chains[pack_id]

    for pack_id in sorted(packs):
        chain_of(pack_id, ())
    resolved = {
        pack_id: replace(packs[pack_id], layers=chain)
        for pack_id, chain in chains.items()
        if chain is not None
    }
    return resolved, diagnostics


def _toml_error(source: _Source, e: tomllib.TOMLDecodeError) -> Diagnostic:
    message = str(e)
    m = TOML_POSITION.search(message)
    if m:
        line, column = int(m.group(1)), int(m.group(2))
    else:  # "(at end of document)"
        line = max(len(source.lines), 1)
        column = len(source.excerpt(line) or "") + 1
    reason = TOML_POSITION.sub("", message).replace("(at end of document)", "").strip()
    explained = next((ja for prefix, ja in TOML_REASONS if reason.startswith(prefix)), None)
    detail = f"{explained}（{reason}）" if explained else reason
    return source.at(
        (line, column),
        "PCK601",
        f"{MANIFEST} の TOML 構文が正しくありません: {detail}。",
        '文字列は "…" で囲み、一覧は ["141305"] のように書きます。'
        'この位置の直前の行の閉じ忘れ（"、]、}）も確かめてください。',
    )


def _string(source: _Source, data: Mapping[str, object], key: str, out: list[Diagnostic]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    out.append(
        source.at(
            source.key_position(key),
            "PCK604",
            f"「{key}」は空でない文字列でなければなりません。",
            f'`{key} = "…"` のように引用符で囲んで書いてください。',
        )
    )
    return None


def _municipalities(
    source: _Source, data: Mapping[str, object], out: list[Diagnostic]
) -> tuple[str, ...] | None:
    value = data.get("municipalities")
    if value is None:
        return None
    position = source.key_position("municipalities")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        out.append(
            source.at(
                position,
                "PCK604",
                "「municipalities」は全国地方公共団体コード（文字列）の空でない一覧でなければなりません。",
                '`municipalities = ["141305"]` のように、6桁のコードを引用符で囲んで書いてください。',
            )
        )
        return None
    codes: list[str] = []
    for code in value:
        diagnostic = _check_code(source, code, source.value_position("municipalities", code))
        if diagnostic is not None:
            out.append(diagnostic)
        elif code in codes:
            out.append(
                source.at(
                    source.value_position("municipalities", code),
                    "PCK609",
                    f"団体コード「{code}」が municipalities に二回書かれています。",
                    "重複している方を削除してください。",
                    is_warning=True,
                )
            )
        else:
            codes.append(code)
    return tuple(codes)


def _check_code(source: _Source, code: str, position: tuple[int, int] | None) -> Diagnostic | None:
    if ASCII_CODE.fullmatch(code) is None:
        normalized = code.translate(_FULLWIDTH_DIGITS)
        hint = (
            f"半角数字で「{normalized}」と書いてください。"
            if normalized != code and ASCII_CODE.fullmatch(normalized)
            else "全国地方公共団体コードは半角数字6桁（5桁の団体コード＋検査数字）です。"
            '例: 川崎市は "141305"。'
        )
        return source.at(
            position, "PCK607", f"「{code}」は全国地方公共団体コード（半角数字6桁）ではありません。", hint
        )
    expected = check_digit(code[:5])
    if int(code[5]) != expected:
        return source.at(
            position,
            "PCK608",
            f"団体コード「{code}」の検査数字が合いません（正しくは {code[:5]}{expected}）。",
            "総務省の全国地方公共団体コード一覧で6桁のコードを確かめてください。"
            "5桁の団体コードに検査数字を付け忘れていないかも確かめてください。",
        )
    return None


def _check_id(source: _Source, pack_id: str, directory: Path) -> Iterable[Diagnostic]:
    position = source.key_position("id")
    m = PACK_ID.fullmatch(pack_id)
    if m is None:
        yield source.at(
            position,
            "PCK605",
            f"パック id「{pack_id}」の形式が正しくありません。",
            'id は「団体コード6桁-英小文字の名前」の半角英数字で書きます（例: "141305-kawasaki"）。'
            "日本語の名前は name に書いてください。",
        )
        return
    code_problem = _check_code(source, m.group("code"), position)
    if code_problem is not None:
        yield code_problem
    if directory.name != pack_id:
        yield source.at(
            position,
            "PCK610",
            f"フォルダ名「{directory.name}」がパック id「{pack_id}」と一致しません。",
            f"フォルダ名を「{pack_id}」に変えるか、id をフォルダ名に合わせてください。",
        )


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
