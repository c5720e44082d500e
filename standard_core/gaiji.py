"""外字 (gaiji): a municipality's legacy characters mapped to standard characters, nothing silently lost.

A legacy system stored kanji it lacked as private code points that mean something only to it: in a CP932
(Windows-31J) export its user-defined area (bytes F040–F9FC) decodes to U+E000–U+E757. The national path is to
identify each with a standard character (文字情報基盤 MJ; Unicode, with an ideographic variation sequence where
the 字形 needs one). The municipality supplies that identification as a table (`GaijiTable.parse`, format in
docs/migration.md):

    旧コード,文字,MJ文字図形名,備考
    U+E000,U+8FBA U+E0100,MJ028227,辺の異体（しんにょう一点）
    0xF041,U+9AD9,,髙（はしごだか）
    ,U+5D0E U+E0101,,宣言だけ: この異体字シーケンスも使う

`convert` applies it to a field: every mapped legacy character becomes its Unicode sequence, and every character
that is private-use, or outside the declared repertoire, and has no mapping is reported (position, code) — never
replaced by `?`, `〓` or anything else, never dropped. The declared repertoire is what JIS X 0213:2004 encodes
(Python's `euc_jis_2004` codec is the reference), plus every sequence the table maps to, plus the rows that only
declare a character. Nothing is normalised: U+FA10 塚 and U+FA19 神 (compatibility ideographs) and 辺 + U+E0100
stay byte for byte what they are.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from standard_core.diagnostics import Diagnostic, Span, error

REPERTOIRE = "JIS X 0213:2004"
_REPERTOIRE_CODEC = "euc_jis_2004"
HEADERS = {"旧コード": "legacy", "文字": "unicode", "MJ文字図形名": "mj", "備考": "note",
           "legacy": "legacy", "unicode": "unicode", "mj": "mj", "note": "note"}
_CODE_POINTS = re.compile(r"(?:U\+[0-9A-Fa-f]{4,6})(?:\s+U\+[0-9A-Fa-f]{4,6})*")
_BYTES = re.compile(r"(?:0x)?((?:[0-9A-Fa-f]{2})+)")
_MJ = re.compile(r"MJ[0-9]{6}")


def is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def is_private_use(ch: str) -> bool:
    return unicodedata.category(ch) == "Co"


def code_of(text: str) -> str:
    """'U+8FBA U+E0100' for a sequence."""
    return " ".join(f"U+{ord(c):04X}" for c in text)


@lru_cache(maxsize=65536)
def in_jis_x_0213(text: str) -> bool:
    """Whether JIS X 0213:2004 encodes `text` (a character, or a character with a combining mark)."""
    try:
        text.encode(_REPERTOIRE_CODEC)
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class GaijiEntry:
    source: str  # the legacy character as decoded (a private-use code point, usually); "" for a declaration
    target: str  # the Unicode sequence it stands for (IVS included)
    mj: str | None  # 文字情報基盤 MJ文字図形名, e.g. MJ028227
    note: str
    line: int  # in the table file


@dataclass(frozen=True)
class Finding:
    """A character that cannot be carried over as it is: reported, never replaced."""

    position: int  # 1-based code point position in the field (as decoded)
    text: str  # the character or sequence found
    kind: str  # gaiji | outside | sequence

    @property
    def code(self) -> str:
        return code_of(self.text)

    @property
    def reason(self) -> str:
        return {"gaiji": "外字（私用領域の文字）で、対応表にない",
                "outside": f"宣言した文字の範囲（{REPERTOIRE}・対応表の文字）の外にある",
                "sequence": "対応表にない異体字シーケンス（異体字セレクタ付きの字）"}[self.kind]


@dataclass(frozen=True)
class Converted:
    text: str  # the field with every mapped legacy character replaced by its sequence; nothing else changed
    findings: tuple[Finding, ...]  # what could not be carried over (the record must not be imported as is)
    mapped: tuple[tuple[int, GaijiEntry], ...]  # (1-based position in the input, entry) for each replacement


class GaijiTable:
    """A municipality's 外字 table: legacy character → Unicode sequence, and the declared repertoire."""

    def __init__(self, entries: Iterable[GaijiEntry] = (), name: str = "外字の対応表") -> None:
        rows = list(entries)
        self.name = name
        self.entries = {e.source: e for e in rows if e.source}
        self.declared = frozenset(e.target for e in rows)  # every target, and the declaration-only rows
        self._lengths = sorted({len(s) for s in self.entries}, reverse=True)
        self._first = frozenset(s[0] for s in self.entries)
        self._plain: dict[str, bool] = {}  # character → carried over as it is, alone (the common case, cached)

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def parse(cls, text: str, name: str = "外字の対応表") -> tuple[GaijiTable, list[Diagnostic]]:
        """Read the table (CSV, UTF-8). All problems are reported at once; the table is usable only without
        errors."""
        problems: list[Diagnostic] = []
        rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
        if not rows or [HEADERS.get(h.strip()) for h in rows[0][:2]] != ["legacy", "unicode"]:
            problems.append(error("MIG101", "外字の対応表の 1 行目が見出しではありません", Span(name, 1, 1),
                                  "1 行目を「旧コード,文字,MJ文字図形名,備考」にしてください（MJ文字図形名・備考は省略可）。"))
            return cls((), name), problems
        columns = [HEADERS.get(h.strip(), "") for h in rows[0]]
        entries: list[GaijiEntry] = []
        seen: dict[str, int] = {}
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            cells = {columns[i]: cell.strip() for i, cell in enumerate(row) if i < len(columns) and columns[i]}
            legacy, target_text = cells.get("legacy", ""), cells.get("unicode", "")
            mj, note = cells.get("mj", "") or None, cells.get("note", "")
            source = _legacy(legacy, name, line, problems) if legacy else ""
            target = _sequence(target_text)
            if not target:
                problems.append(error("MIG102", f"{line} 行目: 「文字」が空です", Span(name, line, 1),
                                      "対応する文字を U+8FBA U+E0100 の形か、文字そのもので書いてください。"))
                continue
            if any(is_private_use(c) for c in target):
                problems.append(error("MIG103", f"{line} 行目: 対応先 {code_of(target)} に外字（私用領域の文字）があります",
                                      Span(name, line, 1), "対応先は標準の文字（文字情報基盤 MJ・Unicode）にしてください。"))
                continue
            if any(unicodedata.category(c) in ("Cc", "Cs") for c in target):
                problems.append(error("MIG103", f"{line} 行目: 対応先 {code_of(target)} に制御文字があります",
                                      Span(name, line, 1), "対応先は標準の文字（文字情報基盤 MJ・Unicode）にしてください。"))
                continue
            if mj is not None and _MJ.fullmatch(mj) is None:
                problems.append(error("MIG104", f"{line} 行目: MJ文字図形名「{mj}」の形が正しくありません",
                                      Span(name, line, 1), "MJ と 6 桁の数字で書いてください（例: MJ028227）。空でもかまいません。"))
                continue
            if source is None:
                continue
            if source and source in seen:
                problems.append(error("MIG105", f"{line} 行目: 旧コード {code_of(source)} は {seen[source]} 行目にもあります",
                                      Span(name, line, 1), "1 つの外字には 1 つの対応だけを書いてください。"))
                continue
            if source:
                seen[source] = line
            entries.append(GaijiEntry(source, target, mj, note, line))
        return cls(entries, name), problems

    def allowed(self, text: str) -> bool:
        """Whether a character or sequence is in the declared repertoire."""
        return text in self.declared or in_jis_x_0213(text)

    def convert(self, text: str) -> Converted:
        """Map the legacy characters of one field and report what cannot be carried over (see the module)."""
        plain = self._plain
        for ch in text:  # most fields hold only characters that stay as they are: answer those at once
            ok = plain.get(ch)
            if ok is None:
                ok = plain[ch] = (ch not in self._first and not is_variation_selector(ch) and not is_private_use(ch)
                                  and self.allowed(ch))
            if not ok:
                break
        else:
            return Converted(text, (), ())
        out: list[str] = []
        findings: list[Finding] = []
        mapped: list[tuple[int, GaijiEntry]] = []
        i, n = 0, len(text)
        while i < n:
            entry = next((self.entries[text[i:i + k]] for k in self._lengths if text[i:i + k] in self.entries), None)
            if entry is not None:
                mapped.append((i + 1, entry))
                out.append(entry.target)
                i += len(entry.source)
                continue
            ch = text[i]
            if i + 1 < n and is_variation_selector(text[i + 1]):  # a character with its variation selector
                sequence = text[i:i + 2]
                if sequence not in self.declared:
                    findings.append(Finding(i + 1, sequence, "gaiji" if is_private_use(ch) else "sequence"))
                out.append(sequence)
                i += 2
                continue
            if is_variation_selector(ch):
                findings.append(Finding(i + 1, ch, "sequence"))  # a selector with nothing before it
            elif is_private_use(ch):
                findings.append(Finding(i + 1, ch, "gaiji"))
            elif not self.allowed(ch) and not (i > 0 and unicodedata.combining(ch) and self.allowed(text[i - 1:i + 1])):
                findings.append(Finding(i + 1, ch, "outside"))
            out.append(ch)
            i += 1
        return Converted("".join(out), tuple(findings), tuple(mapped))


def _legacy(value: str, name: str, line: int, problems: list[Diagnostic]) -> str | None:
    """A legacy code as the character it decodes to: U+E000 (code points) or 0xF040 (CP932 bytes)."""
    if _CODE_POINTS.fullmatch(value):
        return _sequence(value)
    m = _BYTES.fullmatch(value)
    if m is not None:
        decoded, bad = decode_cp932(bytes.fromhex(m.group(1)))
        if decoded is not None:
            return decoded
        problems.append(error("MIG106", f"{line} 行目: 旧コード {value} は CP932（Windows-31J）として読めません"
                                        f"（{bad}）", Span(name, line, 1),
                              "外字の領域は F040〜F9FC です。コードを確かめてください。"))
        return None
    problems.append(error("MIG106", f"{line} 行目: 旧コード「{value}」の形が正しくありません", Span(name, line, 1),
                          "U+E000 の形（Unicode）か、0xF040 の形（CP932 のバイト）で書いてください。"))
    return None


def _sequence(value: str) -> str:
    """'U+8FBA U+E0100' → the characters; anything else is taken as the characters themselves."""
    if _CODE_POINTS.fullmatch(value):
        return "".join(chr(int(token[2:], 16)) for token in value.split())
    return value


def decode_cp932(data: bytes) -> tuple[str | None, str]:
    """Decode a CP932 (Windows-31J) byte string strictly: the user-defined area F040–F9FC becomes U+E000–U+E757,
    0x8160 becomes U+FF5E (not U+301C as in plain shift_jis). Bytes that are not CP932 are never replaced:
    (None, 'byte 12: 0x85 0x40') names the first of them."""
    try:
        return data.decode("cp932"), ""
    except UnicodeDecodeError as e:
        lead = data[e.start]
        end = max(e.end, e.start + 2) if 0x81 <= lead <= 0x9F or 0xE0 <= lead <= 0xFC else e.end  # with its trail byte
        shown = " ".join(f"0x{b:02X}" for b in data[e.start:end])
        return None, f"{e.start + 1} バイト目: {shown}"
