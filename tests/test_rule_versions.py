"""Versioned rules: content-addressed rule sets, activation from a date, cases pin the version they start on."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from dsl.rules.runtime import RuleRuntime
from engine import clock
from engine.models import AuditEvent, CaseInstance, RuleSet
from engine.rule_versions import activate, active_rule_set, load, move_case
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import environment

PACK = "141305-kawasaki"
RULES = "入力 {{ 部数: 整数; }}\n決定 負担: 金額 {{ 通常: 真 のとき {amount} 出典「テスト」; }}\n"


def write_pack(root: Path, version: str, amount: str) -> None:
    pack = root / "local_rules" / PACK
    (pack / "rules").mkdir(parents=True, exist_ok=True)
    (pack / "pack.toml").write_text(f'id = "{PACK}"\nversion = "{version}"\nmunicipalities = ["141305"]\n',
                                    encoding="utf-8")
    (pack / "rules" / "futan.rules").write_text(RULES.format(amount=amount), encoding="utf-8")
    (root / "standard_core" / "rules").mkdir(parents=True, exist_ok=True)
    (root / "standard_core" / "VERSION").write_text("0.1.0\n", encoding="utf-8")


def value_for(session: object, digest: str) -> object:
    rules = load(session, digest)  # type: ignore[arg-type]
    return RuleRuntime(rules, {"部数": 1}, on=None, calendar=None).evaluate("負担")[0]


def test_running_case_keeps_its_version_and_new_cases_take_the_new_one(database_url: str, tmp_path: Path) -> None:
    root = tmp_path
    with clock.frozen(dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC)), environment(database_url) as env:
        write_pack(root, "0.1.0", "500円")
        with env.session() as s:
            first = activate(s, root, pack_id=PACK, version="0.1.0", municipality="141305",
                             effective_from=dt.date(2026, 1, 1), actor="管理者")
        old_case = env.start("Process_Sashimodoshi")
        assert env.case(old_case).rules_hash == first

        write_pack(root, "0.2.0", "300円")
        with env.session() as s:
            second = activate(s, root, pack_id=PACK, version="0.2.0", municipality="141305",
                              effective_from=dt.date(2026, 1, 15), actor="管理者")
        assert second != first
        new_case = env.start("Process_Sashimodoshi")
        assert env.case(old_case).rules_hash == first and env.case(new_case).rules_hash == second
        with env.session() as s:
            assert (value_for(s, first), value_for(s, second)) == (500, 300)
            assert s.scalar(select(RuleSet.pack_version).where(RuleSet.hash == second)) == "0.2.0"
            detail = json.loads(s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "pack.activated")
                                          .order_by(AuditEvent.seq.desc())).first() or "{}")
        assert detail == {"pack": PACK, "version": "0.2.0", "rule_set": second, "effective_from": "2026-01-15"}


def test_activation_in_the_future_does_not_apply_yet(database_url: str, tmp_path: Path) -> None:
    write_pack(tmp_path, "0.1.0", "500円")
    with clock.frozen(dt.datetime(2026, 2, 1, 0, 0, tzinfo=dt.UTC)), environment(database_url) as env:
        with env.session() as s:
            digest = activate(s, tmp_path, pack_id=PACK, version="0.1.0", municipality="141305",
                              effective_from=dt.date(2026, 4, 1), actor="管理者")
            assert active_rule_set(s, "141305", dt.date(2026, 3, 31)) is None
            assert active_rule_set(s, "141305", dt.date(2026, 4, 1)) == digest
        assert env.case(env.start("Process_Sashimodoshi")).rules_hash is None


def test_moving_a_case_to_another_version_is_explicit_and_audited(database_url: str, tmp_path: Path) -> None:
    write_pack(tmp_path, "0.1.0", "500円")
    with environment(database_url) as env:
        with env.session() as s:
            first = activate(s, tmp_path, pack_id=PACK, version="0.1.0", municipality="141305",
                             effective_from=dt.date(2020, 1, 1), actor="管理者")
        case_id = env.start("Process_Sashimodoshi")
        write_pack(tmp_path, "0.2.0", "300円")
        with env.session() as s:
            second = activate(s, tmp_path, pack_id=PACK, version="0.2.0", municipality="141305",
                              effective_from=dt.date(2099, 1, 1), actor="管理者")
            move_case(s, case_id, second, "係長", "条例改正の遡及適用（議決日 2026-03-20）")
        with env.session() as s:
            assert s.get(CaseInstance, case_id).rules_hash == second  # type: ignore[union-attr]
            event = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.rules_moved")).one()
        assert json.loads(event.detail)["from"] == first and event.actor == "係長"


@pytest.mark.parametrize(("pack", "version", "code"), [
    (PACK, "9.9.9", "ENG531"), ("270008-osaka", "0.1.0", "ENG530"),
], ids=["version-not-on-disk", "pack-does-not-serve-the-municipality"])
def test_activation_refusals(database_url: str, tmp_path: Path, pack: str, version: str, code: str) -> None:
    write_pack(tmp_path, "0.1.0", "500円")
    with environment(database_url) as env, env.session() as s, pytest.raises(DiagnosticError) as e:
        activate(s, tmp_path, pack_id=pack, version=version, municipality="141305",
                 effective_from=dt.date(2026, 1, 1), actor="管理者")
    assert e.value.diagnostics[0].code == code


def test_cli_activate_then_evaluate_with_the_case_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from click.testing import CliRunner

    import web.cli_cases
    import web.cli_packs
    import web.cli_rules
    from engine.db import upgrade
    from web.cli import cli

    root = tmp_path / "project"
    write_pack(root, "0.1.0", "500円")
    (root / "processes").mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "engine" / "sashimodoshi.bpmn", root / "processes")
    for module in (web.cli_cases, web.cli_packs, web.cli_rules):
        monkeypatch.setattr(module, "project_root", lambda: root)
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    upgrade(url)
    env = {"JICHI_DATABASE_URL": url}
    runner = CliRunner()

    def run(*args: str) -> dict[str, object]:
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.output)) if "--json" in args else {}

    runner.invoke(cli, ["demo", "load"], env=env)
    activated = run("pack", "activate", f"{PACK}@0.1.0", "--municipality", "141305", "--from", "令和2年1月1日",
                    "--as", "管理者", "--json")
    case = run("case", "start", "Process_Sashimodoshi", "--municipality", "141305", "--json")
    assert case["rules"] == activated["rule_set"]
    write_pack(root, "0.2.0", "300円")
    run("pack", "activate", f"{PACK}@0.2.0", "--municipality", "141305", "--from", "2020-01-02", "--json")
    pinned = run("rules", "eval", "--case", str(case["id"]), "--procedure", "負担", "--json")
    current = run("rules", "eval", "--municipality", "141305", "--procedure", "負担", "--json")
    assert (pinned["value"], current["value"]) == (500, 300)
    # Moving the running case is explicit (a reason is required) and names the version as it was activated.
    refused = runner.invoke(cli, ["case", "move-rules", str(case["id"]), "--to", f"{PACK}@0.2.0", "--reason", " "],
                            env=env)
    assert refused.exit_code == 1 and "ENG533" in refused.output
    unknown = runner.invoke(cli, ["case", "move-rules", str(case["id"]), "--to", f"{PACK}@9.9.9", "--reason", "x"],
                            env=env)
    assert unknown.exit_code == 1 and "ENG532" in unknown.output
    moved = run("case", "move-rules", str(case["id"])[:8], "--to", f"{PACK}@0.2.0", "--reason", "条例改正の遡及適用",
                "--as", "係長", "--json")
    assert moved["from"] == activated["rule_set"] and moved["to"] not in (None, activated["rule_set"])
    assert run("rules", "eval", "--case", str(case["id"]), "--procedure", "負担", "--json")["value"] == 300


def test_warm_compiles_each_registered_municipalitys_rules_and_active_version_before_any_step(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.rule_versions
    import engine.rulesets
    from engine.db import Municipality
    from engine.paths import project_root
    from engine.registry import Registry

    registry = Registry.load(project_root())
    compiled: list[object] = []

    def counting(module: object) -> None:
        original = module.load_rules  # type: ignore[attr-defined]
        monkeypatch.setattr(module, "load_rules", lambda *a, **k: compiled.append(a) or original(*a, **k))

    counting(engine.rulesets)
    counting(engine.rule_versions)
    write_pack(tmp_path, "0.1.0", "700円")
    with environment(database_url, registry) as env:
        with env.session() as s:
            digest = activate(s, tmp_path, pack_id=PACK, version="0.1.0", municipality="141305",
                              effective_from=dt.date(2020, 1, 1), actor="管理者")
            codes = sorted(s.scalars(select(Municipality.code)))
        engine.rule_versions._cache.pop(digest, None)
        compiled.clear()
        with env.session() as s:
            assert env.cases.warm(s) == codes and len(codes) >= 2
        assert compiled  # the rules were compiled by warm …
        compiled.clear()
        with env.session() as s:
            for code in codes:  # … so the steps that ask for them compile nothing
                assert registry.rules(code) is not None
            assert value_for(s, digest) == 700
        assert compiled == []
