"""Which rule files apply to a municipality, loaded once: core → prefecture → municipality.

The core's rules live in standard_core/rules/*.rules; a pack's in local_rules/<pack>/rules/*.rules. The
files of the pack that serves a municipality (its own, else its prefecture's; engine.calendars.pack_for)
are loaded after the core and after the pack's bases, so a municipality's pack may add exceptions to the
`開放` decisions of the layers below it, and never redefine anything (DSL220).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dsl.rules.load import load_rules
from dsl.rules.model import RuleSet
from engine.calendars import pack_for
from engine.packs import Pack, discover_packs
from standard_core.diagnostics import Diagnostic, Span, error, has_errors

CORE_RULES = Path("standard_core") / "rules"


@dataclass(frozen=True)
class RuleScope:
    """The rule files of one municipality, in load order, and the pack that serves it (if any)."""

    files: tuple[Path, ...]
    pack: Pack | None


def core_rule_files(root: Path) -> list[Path]:
    return sorted((root / CORE_RULES).glob("*.rules"))


def pack_rule_files(pack: Pack, packs: Sequence[Pack], municipality: str | None = None) -> list[Path]:
    """The rule files of a pack and its bases, outermost base first.

    With a municipality, each layer's rules/<code>/ files for it follow that layer's shared files, so the
    municipality's parameter values and exceptions sit in the layer that declares them.
    """
    by_id = {p.id: p for p in packs}
    return [f for layer in pack.layers if layer in by_id for f in by_id[layer].rule_files_for(municipality)]


def scope_for(code: str, root: Path, packs: Sequence[Pack]) -> tuple[RuleScope | None, list[Diagnostic]]:
    pack, _, problems = pack_for(code, packs)
    if problems:
        return None, problems
    files = core_rule_files(root) + (pack_rule_files(pack, packs, code) if pack is not None else [])
    return RuleScope(tuple(files), pack), []


def read_sources(files: Sequence[Path], root: Path, code: str = "DSL127",
                 what: str = "規則ファイル") -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    """(shown name, text) of each file; an unreadable one is a diagnostic `code`, never an exception."""
    sources, problems = [], []
    for path in files:
        shown = _shown(path, root)
        try:
            sources.append((shown, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            problems.append(error(code, f"{what}を読めません: {e}", Span(shown, 1, 1),
                                  "UTF-8 で保存されたファイルか、読み取り権限を確かめてください。"))
    return sources, problems


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


class RuleSets:
    """Loaded rule sets by the files they consist of; a process loads each combination once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.packs, self.pack_diagnostics = discover_packs(root / "local_rules")
        self._loaded: dict[tuple[Path, ...], tuple[RuleSet | None, list[Diagnostic]]] = {}
        self._scopes: dict[str, tuple[RuleScope | None, list[Diagnostic]]] = {}
        self._lock = threading.Lock()

    def scope(self, code: str) -> tuple[RuleScope | None, list[Diagnostic]]:
        """scope_for, resolved once per municipality (as the packs are discovered once): a running case's
        business rule task asks on every step, and listing the core's folder is a system call."""
        with self._lock:
            known = self._scopes.get(code)
        if known is None:
            known = scope_for(code, self.root, self.packs)
            with self._lock:
                self._scopes[code] = known
        return known

    def for_municipality(self, code: str) -> tuple[RuleSet | None, list[Diagnostic]]:
        scope, problems = self.scope(code)
        if scope is None:
            return None, problems
        return self.load(scope.files)

    def for_municipality_with_sources(
            self, code: str) -> tuple[RuleSet | None, list[tuple[str, str]], list[Diagnostic]]:
        """As for_municipality, read afresh (not cached), with the (file name, text) pairs compiled: what a
        process that compiles the same rules elsewhere needs (engine.batch's workers)."""
        scope, problems = self.scope(code)
        if scope is None:
            return None, [], problems
        return self._compile(scope.files)

    def _compile(self, files: Sequence[Path]) -> tuple[RuleSet | None, list[tuple[str, str]], list[Diagnostic]]:
        """Read and compile: (the rules, None when a file cannot be read; the texts compiled; every diagnostic)."""
        sources, unreadable = read_sources(files, self.root)
        rules, diagnostics = load_rules(sources)
        return (None if has_errors(unreadable) else rules), sources, [*unreadable, *diagnostics]

    def for_file(self, path: Path) -> RuleSet | None:
        """The rules a BPMN file's business rule tasks may call: the core's for a file outside the packs,
        the core's and the pack's layers for a file in a pack's folder. None if those rules have errors."""
        resolved = path.resolve()
        pack = next((p for p in self.packs if resolved.is_relative_to(p.directory.resolve())), None)
        files = core_rule_files(self.root) + (pack_rule_files(pack, self.packs) if pack is not None else [])
        return self.load(files)[0]

    def load(self, files: Sequence[Path]) -> tuple[RuleSet | None, list[Diagnostic]]:
        key = tuple(files)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
        rules, _, diagnostics = self._compile(files)
        result = (rules, diagnostics)
        with self._lock:
            self._loaded[key] = result
        return result
