"""Reading a BPMN file safely: bytes → lxml tree plus the raw text, or diagnostics (never a traceback).

The parser resolves no entities, fetches nothing from the network and refuses huge trees; a DOCTYPE is
refused outright because a process model has no use for one and entity tricks start there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from standard_core.diagnostics import Diagnostic, Span, error

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
JICHI_NS = "urn:jichi:bpmn:1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# Real process models are a few hundred kB; anything far larger is a mistake or an attack, and reading it
# would only make the checker slow.
MAX_FILE_BYTES = 5 * 1024 * 1024

_ENCODING_DECL = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass
class SourceFile:
    """A parsed BPMN document with what positions need: the shown path, raw text and its lines."""

    display: str
    root: etree._Element
    text: str | None  # decoded raw text; None when the encoding could not be decoded exactly
    lines: list[str] = field(default_factory=list)

    def line(self, number: int) -> str | None:
        """The file's line `number` (1-based) without its newline, for caret excerpts."""
        if 1 <= number <= len(self.lines):
            return self.lines[number - 1]
        return None

    def span(self, element: etree._Element) -> Span:
        """The span of an element: its lxml sourceline, column 1 (lxml does not report columns)."""
        return Span(self.display, element.sourceline or 1, 1)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=False,
        strip_cdata=True,
    )


def _decode(data: bytes) -> str | None:
    match = _ENCODING_DECL.match(data)
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except (LookupError, UnicodeDecodeError):
        return None


def read_source(path: Path, display: str) -> tuple[SourceFile | None, list[Diagnostic]]:
    """Read and parse one file. Returns the document, or None and the diagnostics that explain why not."""
    start = Span(display, 1, 1)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [error(
                "BPM403", f"ファイルが大きすぎます（{size:,} バイト、上限 {MAX_FILE_BYTES:,} バイト）",
                start, "プロセスを複数のファイルに分け、呼び出しアクティビティでつないでください。")]
        data = path.read_bytes()
    except OSError as e:
        return None, [error("BPM403", f"ファイルを読めません: {e.strerror or e}", start,
                            "ファイルの場所と読み取り権限を確認してください。")]
    return parse_source(data, display)


def parse_source(data: bytes, display: str) -> tuple[SourceFile | None, list[Diagnostic]]:
    """Parse BPMN bytes into a SourceFile; XML errors, DOCTYPEs and wrong roots become diagnostics."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as e:
        line, column = (e.position if e.position else (e.lineno or 1, 1))
        return None, [error(
            "BPM401", f"XML として読めません: {e.msg}", Span(display, max(line, 1), max(column, 1)),
            "タグの閉じ忘れ・引用符・& のエスケープ（&amp;）を確認してください。BPMN エディタで保存し直すと"
            "直ることがあります。")]
    except (ValueError, etree.LxmlError) as e:  # e.g. unsupported encoding declarations
        return None, [error("BPM401", f"XML として読めません: {e}", Span(display, 1, 1),
                            "UTF-8 で保存し直してください。")]
    text = _decode(data)
    source = SourceFile(display, root, text, text.splitlines() if text is not None else [])
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return None, [error("BPM405", "DOCTYPE 宣言（DTD・実体定義）は使えません", Span(display, 1, 1),
                            "<!DOCTYPE …> を削除してください。BPMN 2.0 のファイルには不要です。")]
    if root.tag != f"{{{BPMN_NS}}}definitions":
        found = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        return None, [error(
            "BPM402", f"BPMN 2.0 のファイルではありません（ルート要素が <{found}> です）", source.span(root),
            f"ルート要素は名前空間 {BPMN_NS} の <definitions> にしてください。")]
    return source, []
