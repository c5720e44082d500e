"""Structural checks of one BPMN document: supported elements, ids, references, flows, gateways, reachability.

Everything SpiffWorkflow 3.2 would reject with an exception (or accept and then misbehave on) is found
here first, with a line number, so SpiffWorkflow only ever sees documents that validated clean.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from engine.bpmn.elements import (
    ALLOWED_EVENT_DEFINITIONS,
    CONDITIONAL_GATEWAYS,
    CONTAINERS,
    EVENT_DEFINITIONS,
    EVENT_KINDS,
    FLOW_NODES,
    GATEWAYS,
    STRUCTURE,
    UNSUPPORTED,
    japanese_name,
)
from engine.bpmn.xml import BPMN_NS, SourceFile
from standard_core.diagnostics import Diagnostic, error

_B = f"{{{BPMN_NS}}}"
# Names SpiffWorkflow gives its own task specs; a flow node with one of these ids would be silently merged
# with the internal task (a start event "Start" is never connected, the process cannot start).
_RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
_RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")
_ACTIVITIES = frozenset({"task", "userTask", "manualTask", "scriptTask", "businessRuleTask", "callActivity",
                         "subProcess"})


def local(element: etree._Element | None) -> str:
    """The local name of a BPMN-namespace element, or '' for anything else (comments, foreign elements)."""
    if element is not None and isinstance(element.tag, str) and element.tag.startswith(_B):
        return element.tag[len(_B):]
    return ""


def bpmn_children(element: etree._Element, name: str | None = None) -> Iterator[etree._Element]:
    """Direct BPMN children of element, optionally only those with local name `name`."""
    for child in element:
        kind = local(child)
        if kind and (name is None or kind == name):
            yield child


def containers(root: etree._Element) -> list[etree._Element]:
    """Every process and embedded sub-process, in document order."""
    return [e for e in root.iter(f"{_B}process", f"{_B}subProcess")]


def executable(process: etree._Element) -> bool:
    """SpiffWorkflow treats a process as executable unless isExecutable is exactly 'false'."""
    return process.get("isExecutable", "true") != "false"


def check_structure(source: SourceFile) -> list[Diagnostic]:
    """All structural diagnostics of one document (never raises on any tree lxml produced)."""
    found: list[Diagnostic] = []
    root = source.root
    ids: dict[str, etree._Element] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        element_id = element.get("id")
        if element_id is None:
            continue
        if element_id in ids:
            found.append(error(
                "BPM420", f"id「{element_id}」が重複しています（最初の定義は {ids[element_id].sourceline} 行目）",
                source.span(element), "id は文書内で一意にしてください。BPMN エディタでコピーした要素の id を"
                "変更してください。"))
        else:
            ids[element_id] = element
        if local(element) in FLOW_NODES and (element_id in _RESERVED_IDS or element_id.endswith(_RESERVED_SUFFIXES)):
            found.append(error("BPM435", f"id「{element_id}」は SpiffWorkflow が内部で使う名前です",
                               source.span(element), "別の id（例: StartEvent_1）に変えてください。"))
    found.extend(_unsupported(source))
    processes = list(bpmn_children(root, "process"))
    if not any(executable(p) for p in processes):
        found.append(error(
            "BPM404", "実行可能なプロセスがありません", source.span(root),
            'process 要素に isExecutable="true" を付けてください（bpmn.io の初期値は false です）。'))
    for container in containers(root):
        if container.tag == f"{_B}process" and not executable(container):
            continue
        found.extend(_check_container(source, container, ids))
    found.extend(_check_references(source, ids))
    return found


def _unsupported(source: SourceFile) -> Iterator[Diagnostic]:
    for element in source.root.iter():
        kind = local(element)
        if not kind:
            continue
        span = source.span(element)
        if kind in UNSUPPORTED:
            yield error("BPM410", f"「{UNSUPPORTED[kind]}」は未対応です", span, _unsupported_hint(kind))
        elif kind in EVENT_KINDS:
            definitions = [local(d) for d in bpmn_children(element) if local(d).endswith("EventDefinition")]
            allowed = ALLOWED_EVENT_DEFINITIONS.get(kind, frozenset())
            if len(definitions) > 1:
                yield error("BPM410", f"複数のイベント定義を持つ「{EVENT_KINDS[kind]}」は未対応です", span,
                            "イベント定義を一つにしてください。")
            elif definitions and definitions[0] not in allowed:
                name = EVENT_DEFINITIONS.get(definitions[0], definitions[0])
                yield error("BPM410", f"「{name}{EVENT_KINDS[kind]}」は未対応です", span,
                            "使えるイベントは、開始（なし・タイマー）、終了（なし・強制終了）、タイマー境界、"
                            "タイマー中間イベントです。")
            elif not definitions and kind in ("boundaryEvent", "intermediateCatchEvent"):
                yield error("BPM431", f"イベント定義のない「{EVENT_KINDS[kind]}」は実行できません", span,
                            "timerEventDefinition を追加するか、イベントを削除してください。")
        elif kind not in FLOW_NODES and kind not in STRUCTURE and not kind.endswith("EventDefinition"):
            yield error("BPM410", f"「{japanese_name(kind)}」は未対応です", span, _unsupported_hint(kind))
        if element.get("triggeredByEvent") == "true":
            yield error("BPM411", "イベントサブプロセスは未対応です", span,
                        "通常のサブプロセスとタイマー境界イベントで書き直してください。")
        if element.get("isForCompensation") == "true":
            yield error("BPM411", "補償アクティビティは未対応です", span, "isForCompensation を外してください。")


def _unsupported_hint(kind: str) -> str:
    if kind in ("serviceTask", "sendTask", "receiveTask"):
        return "スクリプトタスク（jichi DSL）かユーザータスクに置き換えてください。"
    if kind in ("multiInstanceLoopCharacteristics", "standardLoopCharacteristics"):
        return "繰り返しはゲートウェイで戻るフローとして描いてください。"
    if kind in ("eventBasedGateway", "complexGateway"):
        return "排他・並列・包含ゲートウェイのいずれかで書き直してください。"
    return "jichi が実行できる要素（docs/errors.md の BPM410 を参照）で書き直してください。"


def _check_container(
    source: SourceFile, container: etree._Element, ids: dict[str, etree._Element],
) -> Iterator[Diagnostic]:
    is_sub = local(container) == "subProcess"
    # Unsupported nodes count as nodes here, so that one BPM410 does not cascade into flow errors.
    nodes = {c.get("id"): c for c in bpmn_children(container) if local(c) in FLOW_NODES or local(c) in UNSUPPORTED}
    flows = list(bpmn_children(container, "sequenceFlow"))
    starts = [n for n in nodes.values() if local(n) == "startEvent"]
    where = f"サブプロセス「{container.get('name') or container.get('id')}」" if is_sub else "プロセス"
    if not starts:
        yield error("BPM427", f"{where}に開始イベントがありません", source.span(container),
                    "開始イベントを一つ追加し、最初のタスクへつないでください。")
    elif is_sub and len(starts) > 1:
        yield error("BPM433", "サブプロセスの開始イベントは一つだけにしてください", source.span(starts[1]),
                    "余分な開始イベントを削除してください。")
    if not any(local(n) == "endEvent" for n in nodes.values()):
        yield error("BPM428", f"{where}に終了イベントがありません", source.span(container),
                    "終了イベントを追加し、最後のタスクからつないでください。")
    for node_id, node in nodes.items():
        if node_id is None:
            yield error("BPM431", f"「{japanese_name(local(node))}」に id がありません", source.span(node),
                        "ASCII の id（例: Task_Uketsuke）を付けてください。")
    outgoing: dict[str, list[etree._Element]] = {}
    for flow in flows:
        for attribute in ("sourceRef", "targetRef"):
            ref = flow.get(attribute)
            if not ref:
                yield error("BPM431", f"シーケンスフローに {attribute} がありません", source.span(flow),
                            "フローの両端を要素につないでください。")
            elif ref not in ids:
                yield error("BPM421", f"シーケンスフローの {attribute}「{ref}」に対応する要素がありません",
                            source.span(flow), "フローをつなぎ直すか、参照先の id を確認してください。")
            elif ref not in nodes:
                yield error("BPM422", f"シーケンスフローがプロセスの境界をまたいでいます（{attribute}「{ref}」）",
                            source.span(flow), "別のプロセス・サブプロセスの要素へはシーケンスフローを"
                            "引けません。呼び出しアクティビティかサブプロセスの境界でつないでください。")
        outgoing.setdefault(flow.get("sourceRef") or "", []).append(flow)
    yield from _check_nodes(source, nodes, outgoing, ids)
    yield from _check_reachability(source, nodes, outgoing)


def _check_nodes(
    source: SourceFile, nodes: dict[str | None, etree._Element], outgoing: dict[str, list[etree._Element]],
    ids: dict[str, etree._Element],
) -> Iterator[Diagnostic]:
    for node_id, node in nodes.items():
        kind = local(node)
        flows = outgoing.get(node_id or "", [])
        default = node.get("default")
        if default is not None:
            target = ids.get(default)
            if target is None:
                yield error("BPM421", f"デフォルトフロー「{default}」に対応する要素がありません", source.span(node),
                            "default 属性を、このゲートウェイから出るシーケンスフローの id にしてください。")
            elif target not in flows:
                yield error("BPM423", f"デフォルトフロー「{default}」はこの要素から出るフローではありません",
                            source.span(node), "default 属性を、この要素から出るフローの id にしてください。")
        if kind == "parallelGateway":
            for flow in flows:
                if _condition(flow) is not None:
                    yield error("BPM424", "並列ゲートウェイから出るフローに条件は書けません", source.span(flow),
                                "条件で分けるときは排他ゲートウェイか包含ゲートウェイを使ってください。")
        elif kind in CONDITIONAL_GATEWAYS and len(flows) > 1:
            for flow in flows:
                if flow.get("id") != default and _condition(flow) is None:
                    yield error("BPM425", "分岐のフローに条件がありません（デフォルトフローでもありません）",
                                source.span(flow), "条件式を書くか、このフローをゲートウェイの default に"
                                "指定してください。")
        elif kind not in GATEWAYS and kind != "startEvent" and len(flows) > 1:
            yield error("BPM432", f"「{japanese_name(kind)}」から複数のフローが出ています", source.span(node),
                        "分岐や並行処理はゲートウェイを置いて描いてください。")
        if kind not in CONDITIONAL_GATEWAYS:
            for flow in flows:
                if _condition(flow) is not None and kind != "parallelGateway":
                    yield error("BPM411", "ゲートウェイ以外から出る条件付きフローは未対応です", source.span(flow),
                                "排他ゲートウェイを置き、そこから条件付きフローを出してください。")
        if kind == "boundaryEvent":
            attached = node.get("attachedToRef")
            if not attached:
                yield error("BPM431", "境界イベントに attachedToRef がありません", source.span(node),
                            "境界イベントをタスクの枠の上に置き直してください。")
            elif attached not in ids:
                yield error("BPM421", f"境界イベントの付け先「{attached}」がありません", source.span(node),
                            "境界イベントをタスクの枠の上に置き直してください。")
            elif attached not in nodes or local(nodes[attached]) not in _ACTIVITIES:
                yield error("BPM422", f"境界イベントの付け先「{attached}」が同じプロセスのタスクではありません",
                            source.span(node), "境界イベントは同じプロセス内のタスクかサブプロセスに付けてください。")
        if kind == "callActivity" and not node.get("calledElement"):
            yield error("BPM431", "呼び出しアクティビティに calledElement がありません", source.span(node),
                        'calledElement="呼び出すプロセスの id" を指定してください。')


def _condition(flow: etree._Element) -> etree._Element | None:
    return next(bpmn_children(flow, "conditionExpression"), None)


def _check_reachability(
    source: SourceFile, nodes: dict[str | None, etree._Element], outgoing: dict[str, list[etree._Element]],
) -> Iterator[Diagnostic]:
    attached: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        if local(node) == "boundaryEvent" and node_id:
            attached.setdefault(node.get("attachedToRef") or "", []).append(node_id)
    seen: set[str] = set()
    stack = [n for n, e in nodes.items() if n and local(e) == "startEvent"]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(attached.get(current, []))
        stack.extend(f.get("targetRef") or "" for f in outgoing.get(current, []) if f.get("targetRef") in nodes)
    if not any(local(e) == "startEvent" for e in nodes.values()):
        return  # BPM427 already says it; every node would otherwise be reported
    for node_id, node in nodes.items():
        if node_id and node_id not in seen and node.get("triggeredByEvent") != "true":
            yield error("BPM426", f"「{node.get('name') or node_id}」（{japanese_name(local(node))}）には"
                        "開始イベントから到達できません", source.span(node),
                        "シーケンスフローでつなぐか、不要なら削除してください。")


def _check_references(source: SourceFile, ids: dict[str, etree._Element]) -> Iterator[Diagnostic]:
    def kind_of(ref: str) -> str:
        return local(ids[ref]) if ref in ids else ""

    for element in source.root.iter():
        kind = local(element)
        refs: list[tuple[str, str | None, tuple[str, ...]]] = []
        if kind == "flowNodeRef":
            refs.append(("flowNodeRef", element.text and element.text.strip(), ()))
        elif kind == "participant":
            refs.append(("processRef", element.get("processRef"), ("process",)))
        elif kind == "association":
            refs += [("sourceRef", element.get("sourceRef"), ()), ("targetRef", element.get("targetRef"), ())]
        elif kind == "dataObjectReference":
            refs.append(("dataObjectRef", element.get("dataObjectRef"), ("dataObject",)))
        elif kind in ("dataObject", "dataInput", "dataOutput", "property"):
            refs.append(("itemSubjectRef", element.get("itemSubjectRef"), ("itemDefinition",)))
        elif kind in ("incoming", "outgoing"):
            refs.append((kind, element.text and element.text.strip(), ("sequenceFlow",)))
        elif kind in ("sourceRef", "targetRef") and local(element.getparent()) in (
                "dataInputAssociation", "dataOutputAssociation"):
            refs.append((kind, element.text and element.text.strip(), ("dataObjectReference", "dataInput",
                                                                        "dataOutput", "property")))
        for attribute, ref, kinds in refs:
            if ref is None or ref == "":
                continue
            if ref not in ids:
                yield error("BPM421", f"{attribute}「{ref}」に対応する要素がありません", source.span(element),
                            "参照先の id を確認してください。BPMN エディタで開き直して保存すると直ることがあります。")
            elif kinds and kind_of(ref) not in kinds:
                yield error("BPM421", f"{attribute}「{ref}」は参照できない種類の要素（{kind_of(ref)}）です",
                            source.span(element), "データの関連付けはデータオブジェクト参照へつないでください。")


def container_of(element: etree._Element) -> etree._Element | None:
    """The nearest enclosing process or sub-process."""
    parent = element.getparent()
    while parent is not None and local(parent) not in CONTAINERS:
        parent = parent.getparent()
    return parent
