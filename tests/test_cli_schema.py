"""`jichi schema`: the data dictionary as a table, as JSON, one entity, and as docs/data-dictionary.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from standard_core import data_model
from web.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["schema", *args])


def test_table_shows_every_entity_and_code_list() -> None:
    result = run()
    assert result.exit_code == 0, result.output
    for e in data_model.ENTITIES:
        assert f"■ {e.label}（{e.id}、DSL: {e.name}）" in result.output
    assert "person.atena_number" in result.output and "宛名番号" in result.output
    assert "住民基本台帳法7条2号" in result.output
    assert "■ コード表" in result.output and "男女の別（sex）: 男、女" in result.output


@pytest.mark.parametrize("name", ["tennyu", "転入届"], ids=["id", "dsl-name"])
def test_one_entity(name: str) -> None:
    result = run("--entity", name)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("■ 転入届（tennyu、DSL: 転入届）")
    assert "tennyu.planned_move_out_on" in result.output
    assert "person.atena_number" not in result.output
    assert "コード表" not in result.output.split("\n")[0]


def test_json_has_every_field() -> None:
    result = run("--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == data_model.to_json()


def test_json_of_one_entity() -> None:
    result = run("--json", "--entity", "個人")
    payload = json.loads(result.output)
    assert [e["id"] for e in payload["entities"]] == ["person"]
    name = next(i for i in payload["entities"][0]["items"] if i["id"] == "person.name")
    assert name["personal_name"] is True and name["max_length"] == 100 and name["required"] is True
    assert payload["code_lists"]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_unknown_entity_is_a_diagnostic(as_json: bool) -> None:
    result = run("--entity", "nobody", *(["--json"] if as_json else []))
    assert result.exit_code == 1
    if as_json:
        (d,) = json.loads(result.output)["diagnostics"]
        assert d["code"] == "INP820" and d["file"] == "--entity" and "person（個人）" in d["hint"]
    else:
        assert result.output.startswith("--entity:1:1: INP820 データ項目の表「nobody」はありません")


def test_markdown_is_the_committed_dictionary() -> None:
    result = run("--markdown")
    assert result.exit_code == 0
    assert result.output == (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")


def test_markdown_refuses_a_subset() -> None:
    result = run("--markdown", "--entity", "person")
    assert result.exit_code == 2
    assert "--markdown" in result.output
