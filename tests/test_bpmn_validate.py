"""The BPMN validation pass: a good/bad table of fixtures, each bad one with its code, line and column."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.bpmn import validate_bpmn, validate_set
from engine.bpmn.xml import MAX_FILE_BYTES, parse_source
from standard_core.diagnostics import Diagnostic

FIXTURES = Path(__file__).parent / "fixtures" / "bpmn"

# (fixture, code, line, column). Columns are exact for DSL text inside the file (entity escapes, CDATA and
# multi-line text mapped back); structural diagnostics point at the element's line, column 1.
BAD = [
    ("not_xml.bpmn", "BPM401", 1, 1),
    ("empty.bpmn", "BPM401", 1, 1),
    ("broken_tag.bpmn", "BPM401", 5, 18),
    ("wrong_root.bpmn", "BPM402", 2, 1),
    ("doctype_entities.bpmn", "BPM405", 1, 1),
    ("bpmnio_demo.bpmn", "BPM404", 2, 1),
    ("message_event.bpmn", "BPM410", 6, 1),
    ("service_task.bpmn", "BPM410", 6, 1),
    ("event_subprocess.bpmn", "BPM411", 7, 1),
    ("assignment.bpmn", "BPM411", 12, 1),
    ("unknown_jichi_element.bpmn", "BPM412", 5, 1),
    ("camunda7_listeners.bpmn", "BPM412", 6, 1),
    ("python_script_format.bpmn", "BPM414", 9, 1),
    ("camunda7_javascript.bpmn", "BPM414", 26, 1),
    ("camunda7_juel.bpmn", "BPM415", 26, 1),
    ("zeebe_feel.bpmn", "BPM416", 27, 1),
    ("duplicate_id.bpmn", "BPM420", 7, 1),
    ("dangling_flow.bpmn", "BPM421", 8, 1),
    ("dangling_lane.bpmn", "BPM421", 10, 1),
    ("cross_boundary.bpmn", "BPM422", 11, 1),
    ("default_not_outgoing.bpmn", "BPM423", 6, 1),
    ("parallel_condition.bpmn", "BPM424", 8, 1),
    ("missing_condition.bpmn", "BPM425", 15, 1),
    ("unreachable.bpmn", "BPM426", 7, 1),
    ("no_start.bpmn", "BPM427", 3, 1),
    ("no_end.bpmn", "BPM428", 3, 1),
    ("multi_outgoing_task.bpmn", "BPM432", 6, 1),
    ("subprocess_two_starts.bpmn", "BPM433", 8, 1),
    ("reserved_id.bpmn", "BPM435", 4, 1),
    ("empty_condition.bpmn", "BPM441", 15, 1),
    ("bad_timer_literal.bpmn", "BPM442", 11, 53),
    ("bad_timer_date.bpmn", "BPM442", 11, 49),
    ("timer_wrong_type.bpmn", "BPM443", 11, 1),
    ("missing_decl_attr.bpmn", "BPM450", 5, 1),
    ("unknown_type.bpmn", "BPM451", 5, 1),
    ("conflicting_decl.bpmn", "BPM452", 6, 1),
    # DSL inside BPMN: exact columns. The condition text starts at column 33 of its line.
    ("python_script.bpmn", "DSL105", 10, 20),
    ("dunder_condition.bpmn", "DSL105", 15, 33),
    ("dsl_syntax_error.bpmn", "DSL101", 15, 52),
    # `申請額 &lt; 5,000円 かつ 児童数 &lt;&gt; 2`: each &lt; is one DSL character but four file characters.
    ("entity_condition.bpmn", "DSL107", 15, 60),
    # `<![CDATA[申請額 < 5,000円 かつ ]]>`: end of input, just before `]]>`.
    ("cdata_condition.bpmn", "DSL102", 15, 57),
    # Second line of a multi-line condition.
    ("multiline_condition.bpmn", "DSL101", 16, 22),
    ("type_error_condition.bpmn", "DSL209", 15, 33),
    ("unknown_name_condition.bpmn", "DSL201", 15, 33),
    ("script_type_error.bpmn", "DSL213", 10, 20),
]

GOOD = [
    "scenario_teate.bpmn",
    "camunda7_clean.bpmn",
    "bpmnio_executable.bpmn",
    "timer_dsl_ok.bpmn",
    "timer_cycle_ok.bpmn",
]


def diagnostics_of(name: str) -> list[Diagnostic]:
    model, found = validate_bpmn(FIXTURES / name, name)
    if model is not None:
        found += validate_set([model])
    return found


@pytest.mark.parametrize(("name", "code", "line", "column"), BAD, ids=[row[0] for row in BAD])
def test_bad_fixture_reports_code_at_position(name: str, code: str, line: int, column: int) -> None:
    found = diagnostics_of(name)
    assert (code, line, column) in [(d.code, d.span.line, d.span.column) for d in found]
    assert all(d.span.file == name and d.span.line >= 1 and d.span.column >= 1 for d in found)
    assert all(d.message and d.hint for d in found)


@pytest.mark.parametrize("name", GOOD, ids=GOOD)
def test_good_fixture_has_no_diagnostics(name: str) -> None:
    assert diagnostics_of(name) == []


def test_dsl_diagnostics_carry_the_file_line_for_the_caret() -> None:
    (found,) = [d for d in diagnostics_of("entity_condition.bpmn") if d.code == "DSL107"]
    assert found.source_line is not None and "&lt;&gt;" in found.source_line
    caret_line = found.format().splitlines()[2]
    # The caret sits under '&gt;', the character after the first comparison operator.
    assert found.source_line[found.span.column - 1:].startswith("&gt; 2")
    assert caret_line.endswith("^")


def test_unsupported_element_is_named_in_japanese() -> None:
    (found,) = [d for d in diagnostics_of("message_event.bpmn") if d.code == "BPM410"]
    assert found.message == "「メッセージ中間イベント」は未対応です"


def test_presentation_only_vendor_attributes_are_warnings() -> None:
    found = diagnostics_of("camunda7_listeners.bpmn")
    assert {d.code for d in found if not d.is_error} == {"BPM413"}
    assert any("camunda:formKey" in d.message for d in found)


def test_call_target_missing_is_found_across_files() -> None:
    model, _ = validate_bpmn(FIXTURES / "call_missing.bpmn", "call_missing.bpmn")
    assert model is not None
    found = validate_set([model])
    assert [(d.code, d.span.line) for d in found] == [("BPM429", 6)]


def test_call_target_in_context_resolves() -> None:
    caller, _ = validate_bpmn(FIXTURES / "call_missing.bpmn")
    callee, _ = validate_bpmn(FIXTURES / "scenario_teate.bpmn")
    assert caller is not None and callee is not None
    caller.source.root.find(".//{*}callActivity").set("calledElement", "Process_Teate")  # type: ignore[union-attr]
    assert validate_set([caller], [callee]) == []


def test_duplicate_process_id_across_files(tmp_path: Path) -> None:
    copy = tmp_path / "copy.bpmn"
    copy.write_bytes((FIXTURES / "scenario_teate.bpmn").read_bytes())
    first, _ = validate_bpmn(FIXTURES / "scenario_teate.bpmn")
    second, _ = validate_bpmn(copy)
    assert first is not None and second is not None
    assert [d.code for d in validate_set([first, second])] == ["BPM434"]


def test_huge_file_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.bpmn"
    path.write_bytes(b"<a>" + b" " * MAX_FILE_BYTES + b"</a>")
    model, found = validate_bpmn(path, "huge.bpmn")
    assert model is None and [d.code for d in found] == ["BPM403"]


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    model, found = validate_bpmn(tmp_path / "nope.bpmn", "nope.bpmn")
    assert model is None and [d.code for d in found] == ["BPM403"]


def test_external_entity_is_never_read() -> None:
    source, found = parse_source((FIXTURES / "doctype_entities.bpmn").read_bytes(), "x.bpmn")
    assert source is None and [d.code for d in found] == ["BPM405"]


SEEDS = sorted(p.name for p in FIXTURES.glob("*.bpmn"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SEEDS), cut=st.integers(min_value=0, max_value=6000),
       junk=st.binary(max_size=12))
def test_mangled_files_give_diagnostics_never_tracebacks(name: str, cut: int, junk: bytes) -> None:
    data = (FIXTURES / name).read_bytes()
    mangled = data[:cut] + junk + data[cut + len(junk):]
    source, found = parse_source(mangled, "m.bpmn")
    if source is None:
        assert found and all(d.span.line >= 1 and d.span.column >= 1 for d in found)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.bpmn"
        path.write_bytes(mangled)
        model, found = validate_bpmn(path, "m.bpmn")
        if model is not None:
            found += validate_set([model])
    assert all(d.span.line >= 1 and d.span.column >= 1 for d in found)
