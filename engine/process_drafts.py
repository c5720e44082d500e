"""Editing a pack's BPMN in the studio's modeler: check an edited diagram exactly as `jichi check` would check it in
the pack (validation, the DSL of its conditions and scripts, hook conformance, SpiffWorkflow's parser), place each
diagnostic on the diagram element it is about, and save what checks clean as a numbered draft in the database.

The core's processes are read-only: only the files of the municipality's own pack (its processes/ folder) can be
drafted, and a diagram that replaces a core procedure or attaches outside a declared hook is refused (STD304/305).
Nothing is written to the pack's folder; drafts share the table of the rule drafts (engine/rule_drafts.py).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit, clock
from engine.bpmn.validate import validate_bpmn
from engine.bpmn.xml import BPMN_NS, MAX_FILE_BYTES, parse_source
from engine.calendars import pack_for
from engine.check import check_paths
from engine.hooks import Hook, core_hooks
from engine.models import RuleDraft
from engine.packs import Pack, discover_packs
from standard_core.diagnostics import Diagnostic, DiagnosticError, Span, error

FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}\.bpmn$")
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"


@dataclass(frozen=True)
class Placed:
    """A diagnostic with the id of the diagram element it is about (None: the file as a whole)."""

    diagnostic: Diagnostic
    element: str | None


@dataclass(frozen=True)
class ProcessFile:
    file: str  # as shown in diagnostics: local_rules/<pack>/processes/x.bpmn, or processes/…/x.bpmn
    editable: bool
    on_disk: bool


def own_pack(root: Path, code: str) -> Pack | None:
    packs, _ = discover_packs(root / "local_rules")
    pack, _, _ = pack_for(code, packs)
    return pack


def _shown(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def files(session: Session, root: Path, pack: Pack | None) -> list[ProcessFile]:
    """The processes of the municipality's pack (on disk, or only drafted so far) then the core's, read-only."""
    own: dict[str, bool] = {}
    if pack is not None:
        own = {_shown(p, root): True for p in pack.process_files}
        drafted = session.scalars(select(RuleDraft.file).where(
            RuleDraft.pack_id == pack.id, RuleDraft.file.like("%.bpmn")).distinct())
        for file in drafted:
            own.setdefault(file, False)
    core = sorted(_shown(p, root) for p in (root / "processes").glob("**/*.bpmn"))
    return ([ProcessFile(f, True, on_disk) for f, on_disk in sorted(own.items())]
            + [ProcessFile(f, False, True) for f in core])


def editable(root: Path, code: str, file: str) -> Pack:
    """The municipality's pack when `file` is one of its processes (existing or new); else PCK632."""
    pack = own_pack(root, code)
    folder = f"{_shown(pack.directory, root)}/processes/" if pack is not None else None
    if pack is None or folder is None or not file.startswith(folder) or not FILE_NAME.match(file[len(folder):]):
        raise DiagnosticError([error(
            "PCK632", f"「{file}」は団体 {code} のパックのプロセスではありません", Span(file, 1, 1),
            "標準（core）の手続きは読み取り専用です。独自の手順はパックの processes/ にフックとして作ってください。")])
    return pack


def source(session: Session, root: Path, pack: Pack | None, shown: ProcessFile) -> tuple[str | None, RuleDraft | None]:
    """The text to open of a file listed by `files`: the latest draft of a file of the pack, else the file on disk
    (core files: always the disk)."""
    draft = next(iter(drafts(session, pack.id, shown.file)), None) if pack is not None and shown.editable else None
    if draft is not None:
        return draft.text, draft
    try:
        return (root / shown.file).read_text(encoding="utf-8"), None
    except (OSError, UnicodeDecodeError):
        return None, None


def check(root: Path, code: str, file: str, text: str) -> list[Placed]:
    """Every diagnostic `jichi check` reports for the pack file with `text` as its content, placed on elements.

    Diagnostics about other files (e.g. a rule file of the pack that no longer loads) are kept, without element.
    """
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        return [Placed(error("BPM403", "BPMN ファイルが大きすぎます", Span(file, 1, 1),
                             f"{MAX_FILE_BYTES // (1024 * 1024)} MB までです。呼び出しアクティビティで分割してください。"),
                       None)]
    diagnostics = check_paths([root / file], root, overrides={root / file: data})
    where = _element_lines(data, file)
    return [Placed(d, where(d.span.line) if d.span.file == file else None) for d in diagnostics]


def _element_lines(data: bytes, file: str):  # type: ignore[no-untyped-def]
    """A function from a line of the text to the id of the diagram element that line belongs to."""
    source, _ = parse_source(data, file)
    if source is None:
        return lambda line: None
    starts: list[tuple[int, etree._Element]] = [
        (e.sourceline or 0, e) for e in source.root.iter() if isinstance(e.tag, str)]

    def element_id(element: etree._Element | None) -> str | None:
        while element is not None:
            if etree.QName(element).namespace == BPMNDI_NS and element.get("bpmnElement"):
                return element.get("bpmnElement")
            if element.get("id") and etree.QName(element).localname != "definitions":
                return element.get("id")
            element = element.getparent()
        return None

    def at(line: int) -> str | None:
        best = None
        for start, element in starts:
            if start > line:
                break
            best = element
        return element_id(best)

    return at


def save(session: Session, root: Path, code: str, file: str, text: str, actor: str) -> RuleDraft:
    """Store the diagram as the next draft of the file when it checks without error; audited."""
    pack = editable(root, code, file)
    placed = check(root, code, file, text)
    errors = [p.diagnostic for p in placed if p.diagnostic.is_error]
    if errors:
        raise DiagnosticError(errors)
    number = int(session.scalar(select(func.coalesce(func.max(RuleDraft.number), 0)).where(
        RuleDraft.pack_id == pack.id, RuleDraft.file == file)) or 0) + 1
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    draft = RuleDraft(pack_id=pack.id, file=file, number=number, text=text, sha256=digest, created_at=clock.now(),
                      created_by=actor)
    session.add(draft)
    audit.admin_event(session, action="process.draft_saved", actor=actor, municipality=code,
                      detail={"pack": pack.id, "file": file, "number": number, "sha256": digest})
    session.commit()
    return draft


def drafts(session: Session, pack_id: str, file: str) -> list[RuleDraft]:
    return list(session.scalars(select(RuleDraft).where(RuleDraft.pack_id == pack_id, RuleDraft.file == file)
                                .order_by(RuleDraft.number.desc())))


def hooks(root: Path) -> list[Hook]:
    """The hooks the core declares, for the form that starts a new hook implementation."""
    models = [m for p in sorted((root / "processes").glob("**/*.bpmn"))
              if (m := validate_bpmn(p, _shown(p, root))[0]) is not None]
    return sorted(core_hooks(models).values(), key=lambda h: h.name)


TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:jichi="urn:jichi:bpmn:1"
                  id="Definitions_{stem}" targetNamespace="urn:jichi:local:{pack}">
  <bpmn:process id="{process}" name="{name}" isExecutable="true"{hook}>
    <bpmn:startEvent id="StartEvent_{stem}" name="開始">
      <bpmn:outgoing>Flow_{stem}_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:endEvent id="EndEvent_{stem}" name="終了">
      <bpmn:incoming>Flow_{stem}_1</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_{stem}_1" sourceRef="StartEvent_{stem}" targetRef="EndEvent_{stem}" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_{stem}">
    <bpmndi:BPMNPlane id="Plane_{stem}" bpmnElement="{process}">
      <bpmndi:BPMNShape id="StartEvent_{stem}_di" bpmnElement="StartEvent_{stem}">
        <dc:Bounds x="152" y="102" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="EndEvent_{stem}_di" bpmnElement="EndEvent_{stem}">
        <dc:Bounds x="352" y="102" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Flow_{stem}_1_di" bpmnElement="Flow_{stem}_1">
        <di:waypoint x="188" y="120" />
        <di:waypoint x="352" y="120" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def new(session: Session, root: Path, code: str, name: str, hook_id: str, actor: str) -> RuleDraft:
    """Start a process of the pack from a template: the implementation of a declared hook (its process id and
    jichi:hook name), or a procedure of the pack's own. Saved as draft 1 (it checks like any other draft)."""
    pack = own_pack(root, code)
    folder = f"{_shown(pack.directory, root)}/processes/" if pack is not None else "local_rules/"
    file = folder + name
    pack = editable(root, code, file)
    if (root / file).exists() or drafts(session, pack.id, file):
        raise DiagnosticError([error("PCK633", f"「{file}」はもうあります", Span(file, 1, 1),
                                     "一覧から開くか、別のファイル名にしてください。")])
    stem = re.sub(r"[^A-Za-z0-9_]", "_", name.removesuffix(".bpmn"))
    if hook_id:
        hook = next((h for h in hooks(root) if h.process_id == hook_id), None)
        if hook is None:
            raise DiagnosticError([error("STD305", f"フック「{hook_id}」は core にありません", Span(file, 1, 1),
                                         "一覧から core が宣言しているフックを選んでください。")])
        taken = [f.file for f in files(session, root, pack) if f.editable and _defines(session, root, pack, f.file, hook_id)]
        if taken:
            raise DiagnosticError([error("PCK633", f"フック「{hook.name}」はもう {taken[0]} で取り付けています",
                                         Span(file, 1, 1), "一つのフックに取り付けるファイルは一つです。そのファイルを開いて編集してください。")])
        process, title, attribute = hook.process_id, f"{hook.name}（{pack.name or pack.id}）", f' jichi:hook="{hook.name}"'
    else:
        process, title, attribute = f"Process_{pack.id.replace('-', '_')}_{stem}", f"{stem}（{pack.name or pack.id}）", ""
    text = TEMPLATE.format(stem=stem, pack=pack.id, process=process, name=_escape(title), hook=_escape(attribute, True))
    return save(session, root, code, file, text, actor)


def _defines(session: Session, root: Path, pack: Pack, file: str, process_id: str) -> bool:
    text = next(iter(drafts(session, pack.id, file)), None)
    data = text.text.encode("utf-8") if text is not None else (root / file).read_bytes()
    source, _ = parse_source(data, file)
    return source is not None and any(p.get("id") == process_id for p in source.root.iter(f"{{{BPMN_NS}}}process"))


def _escape(text: str, attribute_markup: bool = False) -> str:
    if attribute_markup:  # ' jichi:hook="name"': escape the name only
        prefix, _, rest = text.partition('="')
        return f'{prefix}="{_escape(rest[:-1])}"' if rest else text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
