"""住民票の写し: the fee is an open parameter set by each municipality's pack; 郵送 goes only to the registered
address. Through `jichi rules eval --json`, as an auditor or a vendor would check it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from web.cli import cli


def _eval(tmp_path: Path, municipality: str, decision: str, data: dict[str, object], on: str = "2025-06-02"
          ) -> tuple[int, dict[str, object]]:
    source = tmp_path / "input.json"
    source.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "eval", "--municipality", municipality, "--on", on,
                                      "--procedure", decision, "--input", str(source), "--json"])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize(("copies", "fee"), [(1, 300), (3, 900), (0, 0)])
def test_nanto_sets_the_fee_per_copy(tmp_path: Path, copies: int, fee: int) -> None:
    code, out = _eval(tmp_path, "162108", "住民票の写しの手数料",
                      {"請求通数": copies, "郵送請求": False, "返送先が住民票の住所": False})
    assert (code, out["value"], out["type"]) == (0, fee, "金額")


def test_a_municipality_without_a_fee_gets_a_diagnostic_not_a_national_default(tmp_path: Path) -> None:
    code, out = _eval(tmp_path, "141305", "住民票の写しの手数料",
                      {"請求通数": 1, "郵送請求": False, "返送先が住民票の住所": False})
    diagnostics = out["diagnostics"]
    assert code == 1 and out["value"] is None
    assert isinstance(diagnostics, list) and [d["code"] for d in diagnostics] == ["DSL314"]


@pytest.mark.parametrize(("by_post", "to_registered", "accepted"), [
    (False, False, True), (True, True, True), (True, False, False)])
def test_post_is_returned_only_to_the_registered_address(tmp_path: Path, by_post: bool, to_registered: bool,
                                                          accepted: bool) -> None:
    code, out = _eval(tmp_path, "472018", "郵送の返送先を受け付ける",
                      {"請求通数": 1, "郵送請求": by_post, "返送先が住民票の住所": to_registered})
    assert (code, out["value"]) == (0, accepted)
