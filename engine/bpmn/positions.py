"""Exact file positions for the text of an element (a condition, a script, a timer).

lxml reports only the line where a start tag ends, and decodes `&lt;` and CDATA away. To point a DSL
diagnostic at the right column of the BPMN file, we find the element's start tag in the raw text (by its
ordinal among start tags of the same qualified name, skipping comments, CDATA and processing
instructions), then walk the raw characters after it, decoding entity references and CDATA sections
one by one, so that every DSL character index maps to a file (line, column).
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass

from lxml import etree

from engine.bpmn.xml import SourceFile

_MARKUP = re.compile(
    r"""<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<!.*?>|</[^>]*>"""
    r"""|<(?P<name>[^\s/>!?]+)(?:[^>"']|"[^"]*"|'[^']*')*?(?P<close>/?)>""",
    re.DOTALL,
)
_REFERENCE = re.compile(r"&(#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


@dataclass(frozen=True, slots=True)
class _StartTag:
    end: int  # offset just after '>'
    self_closing: bool


class PositionIndex:
    """Start tags of one raw document, indexed by qualified name, plus line starts for offset → (line, col)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tags: dict[str, list[_StartTag]] = {}
        for match in _MARKUP.finditer(text):
            name = match.group("name")
            if name is not None:
                self.tags.setdefault(name, []).append(_StartTag(match.end(), match.group("close") == "/"))
        self.line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def line_column(self, offset: int) -> tuple[int, int]:
        """1-based (line, column in code points) of a raw text offset."""
        index = bisect.bisect_right(self.line_starts, offset) - 1
        return index + 1, offset - self.line_starts[index] + 1


class TextLocator:
    """Maps positions inside an element's `.text` to positions in the BPMN file, or gives the fallback."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.index = PositionIndex(source.text) if source.text is not None else None
        # Keyed by the element itself: holding the proxies keeps lxml from recycling them (and their id()).
        self._ordinals: dict[etree._Element, int] = {}
        counters: dict[str, int] = {}
        for element in source.root.iter():
            if isinstance(element.tag, str):
                name = _qname(element)
                self._ordinals[element] = counters.get(name, 0)
                counters[name] = counters.get(name, 0) + 1

    def text_offsets(self, element: etree._Element) -> list[int] | None:
        """Raw offset of every character of element.text (plus one past the end), or None if not exact."""
        if self.index is None or element.text is None:
            return None
        tags = self.index.tags.get(_qname(element), [])
        ordinal = self._ordinals.get(element)
        if ordinal is None or ordinal >= len(tags) or tags[ordinal].self_closing:
            return None
        tag = tags[ordinal]
        # lxml's sourceline is the line where the start tag ends: a cheap check that we found the right tag.
        if self.index.line_column(tag.end - 1)[0] != element.sourceline:
            return None
        return _walk(self.index.text, tag.end, element.text)

    def locate(self, element: etree._Element, line: int, column: int) -> tuple[int, int]:
        """File (line, column) of 1-based (line, column) inside element.text; element line, col 1 if inexact."""
        fallback = (element.sourceline or 1, 1)
        offsets = self.text_offsets(element)
        text = element.text
        if offsets is None or text is None or self.index is None:
            return fallback
        lines = text.split("\n")
        if not 1 <= line <= len(lines):
            return fallback
        index = sum(len(part) + 1 for part in lines[: line - 1]) + column - 1
        index = min(max(index, 0), len(text))
        return self.index.line_column(offsets[index])


def _qname(element: etree._Element) -> str:
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local


def _walk(raw: str, start: int, text: str) -> list[int] | None:
    """Decode raw from start until len(text) characters have been produced, recording each one's offset."""
    offsets: list[int] = []
    pos = start
    in_cdata = False
    while len(offsets) < len(text):
        if pos >= len(raw):
            return None
        if in_cdata:
            if raw.startswith("]]>", pos):
                in_cdata = False
                pos += 3
                continue
            char, width = raw[pos], 1
        elif raw.startswith("<![CDATA[", pos):
            in_cdata = True
            pos += 9
            continue
        elif raw[pos] == "<":
            return None  # a child or comment inside the text: lxml's .text stops here, so do we
        elif raw[pos] == "&":
            match = _REFERENCE.match(raw, pos)
            if match is None:
                return None
            name = match.group(1)
            char = _PREDEFINED.get(name) or (html.unescape(match.group(0)) if name.startswith("#") else "")
            width = match.end() - pos
        elif raw.startswith("\r\n", pos):
            char, width = "\n", 2  # XML normalises CRLF to LF; point at the CR
        else:
            char, width = raw[pos], 1
        if len(char) != 1 or char != text[len(offsets)]:
            return None
        offsets.append(pos)
        pos += width
    offsets.append(pos)
    return offsets
