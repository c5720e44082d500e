"""How deep SpiffWorkflow 3.2's recursive parser would recurse on a process, computed without recursion.

SpiffWorkflow's `TaskParser.parse_node` parses a node's boundary events, then follows each outgoing
sequence flow by calling `ProcessParser.parse_node` on the target, which calls `TaskParser.parse_node`
again: two Python frames per flow hop, three per boundary event (via `_add_boundary_event`). A node is
registered before its successors are parsed, so the recursion follows a depth-first tree in document
order. We replay exactly that walk with an explicit stack.

Measured limit (CPython 3.11, default recursion limit 1000): a linear chain start → N tasks → end parses
with N = 488 in a fresh thread (489 from a top-level script) and raises RecursionError (wrapped in a
ValidationException) with one task more, i.e. at about 980 frames of parser depth. Reproduce with:

    /tmp/probe/bin/python -m pytest tests/test_bpmn_depth.py -k measured

We refuse anything deeper than MAX_PARSER_FRAMES, leaving ~300 frames for whatever calls the loader
(click, Flask, pytest, gunicorn).
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from engine.bpmn.structure import bpmn_children, local
from engine.bpmn.xml import SourceFile
from standard_core.diagnostics import Diagnostic, error

MEASURED_MAX_CHAIN = 488  # tasks between one start and one end event SpiffWorkflow 3.2 parses (fresh thread)
FRAMES_PER_HOP = 2
FRAMES_PER_BOUNDARY = 3
MAX_PARSER_FRAMES = 700  # = a linear chain of 348 tasks (350 nodes with start and end)
MAX_CHAIN_NODES = MAX_PARSER_FRAMES // FRAMES_PER_HOP


def parser_depth(container: etree._Element) -> tuple[int, etree._Element | None]:
    """Frames SpiffWorkflow's parser would need for this process/sub-process, and the deepest node."""
    flows: dict[str, list[str]] = {}
    for flow in container.iter(f"{{{etree.QName(container).namespace}}}sequenceFlow"):
        flows.setdefault(flow.get("sourceRef") or "", []).append(flow.get("targetRef") or "")
    boundary: dict[str, list[str]] = {}
    nodes: dict[str, etree._Element] = {}
    for node in container.iter():
        node_id = node.get("id") if isinstance(node.tag, str) else None
        if node_id is None:
            continue
        nodes.setdefault(node_id, node)
        if local(node) == "boundaryEvent":
            boundary.setdefault(node.get("attachedToRef") or "", []).append(node_id)

    seen: set[str] = set()
    deepest, deepest_node = 0, None
    stack: list[tuple[int, Iterator[tuple[str, int]]]] = []

    def enter(node_id: str, depth: int) -> None:
        nonlocal deepest, deepest_node
        seen.add(node_id)
        if depth > deepest:
            deepest, deepest_node = depth, nodes.get(node_id)
        children = [(b, FRAMES_PER_BOUNDARY) for b in boundary.get(node_id, [])]
        children += [(t, FRAMES_PER_HOP) for t in flows.get(node_id, [])]
        stack.append((depth, iter(children)))

    for start in bpmn_children(container, "startEvent"):
        if start.get("id") and start.get("id") not in seen:
            enter(start.get("id") or "", FRAMES_PER_HOP)
        while stack:
            depth, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
            elif child[0] in nodes and child[0] not in seen:
                enter(child[0], depth + child[1])
    return deepest, deepest_node


def check_depth(source: SourceFile, container: etree._Element) -> Diagnostic | None:
    """BPM430 when SpiffWorkflow's recursive parser would come too close to Python's recursion limit."""
    frames, node = parser_depth(container)
    if frames <= MAX_PARSER_FRAMES:
        return None
    return error(
        "BPM430", f"つながった要素の列が長すぎます（深さ {frames // FRAMES_PER_HOP} 要素相当、上限 {MAX_CHAIN_NODES}）",
        source.span(node if node is not None else container),
        "処理のまとまりをサブプロセスか呼び出しアクティビティに分けて、一つのプロセスの列を短くしてください。")
