"""Chains too long for SpiffWorkflow 3.2's recursive parser are refused before SpiffWorkflow sees them."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser

from engine.bpmn import validate_bpmn
from engine.bpmn.depth import FRAMES_PER_HOP, MAX_CHAIN_NODES, MAX_PARSER_FRAMES, MEASURED_MAX_CHAIN
from engine.check import check_paths


def chain(tasks: int, boundary_every: int = 0) -> str:
    """start → `tasks` plain tasks → end, optionally with a timer boundary event on every n-th task."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions '
             'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">',
             '<bpmn:process id="Process_Chain" isExecutable="true"><bpmn:startEvent id="S"/>']
    previous = "S"
    for i in range(tasks):
        parts.append(f'<bpmn:task id="T{i}"/><bpmn:sequenceFlow id="F{i}" sourceRef="{previous}" targetRef="T{i}"/>')
        if boundary_every and i % boundary_every == 0:
            parts.append(f'<bpmn:boundaryEvent id="B{i}" attachedToRef="T{i}" cancelActivity="false">'
                         '<bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration>'
                         f'</bpmn:timerEventDefinition></bpmn:boundaryEvent><bpmn:endEvent id="BE{i}"/>'
                         f'<bpmn:sequenceFlow id="BF{i}" sourceRef="B{i}" targetRef="BE{i}"/>')
        previous = f"T{i}"
    parts.append(f'<bpmn:endEvent id="E"/><bpmn:sequenceFlow id="FE" sourceRef="{previous}" targetRef="E"/>')
    parts.append("</bpmn:process></bpmn:definitions>")
    return "\n".join(parts)


def spiff_parses(text: str) -> bool:
    """Parse with SpiffWorkflow directly, in a fresh thread so pytest's own stack depth does not count."""
    result: list[bool] = []

    def target() -> None:
        parser = BpmnParser()
        try:
            parser.add_bpmn_str(text.encode())
            parser.get_spec("Process_Chain")
            result.append(True)
        except RecursionError:
            result.append(False)
        except Exception as e:  # SpiffWorkflow wraps the RecursionError in a ValidationException
            result.append("RecursionError" not in repr(e))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return result == [True]


def test_measured_limit_of_spiffworkflow_parser() -> None:
    # How the number in engine/bpmn/depth.py was found; fails if a SpiffWorkflow upgrade moves it.
    assert sys.getrecursionlimit() == 1000
    assert spiff_parses(chain(MEASURED_MAX_CHAIN))
    assert not spiff_parses(chain(MEASURED_MAX_CHAIN + 1))


def test_our_limit_has_a_safety_margin() -> None:
    assert MAX_PARSER_FRAMES <= 0.75 * (MEASURED_MAX_CHAIN + 2) * FRAMES_PER_HOP
    assert MAX_CHAIN_NODES == 350


@pytest.mark.parametrize(("tasks", "codes"), [(MAX_CHAIN_NODES - 2, []), (MAX_CHAIN_NODES - 1, ["BPM430"])],
                         ids=["at-limit", "just-over"])
def test_chain_length_limit(tmp_path: Path, tasks: int, codes: list[str]) -> None:
    path = tmp_path / "chain.bpmn"
    path.write_text(chain(tasks), encoding="utf-8")
    _, found = validate_bpmn(path, "chain.bpmn")
    assert [d.code for d in found] == codes


def test_boundary_events_count_deeper(tmp_path: Path) -> None:
    # Each boundary event costs SpiffWorkflow an extra frame (_add_boundary_event).
    path = tmp_path / "chain.bpmn"
    path.write_text(chain(MAX_CHAIN_NODES - 2, boundary_every=1), encoding="utf-8")
    _, found = validate_bpmn(path, "chain.bpmn")
    assert [d.code for d in found] == ["BPM430"]


def test_too_long_chain_never_reaches_spiffworkflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "processes").mkdir()
    (tmp_path / "processes" / "chain.bpmn").write_text(chain(MAX_CHAIN_NODES), encoding="utf-8")

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("SpiffWorkflow's parser was called on a model that did not validate")

    monkeypatch.setattr(BpmnParser, "add_bpmn_xml", forbidden)
    found = check_paths([], tmp_path)
    assert [(d.code, d.span.file) for d in found] == [("BPM430", "processes/chain.bpmn")]
