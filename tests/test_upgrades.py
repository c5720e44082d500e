"""Upgrades from every release (docs/operations.md「リリース」): the golden database each release wrote
(tests/golden/releases/<version>/, made by make_release_db.py in that release's checkout) is loaded, upgraded
with this version's `jichi db upgrade`, and then: its audit chains verify, its API token still signs in, and
every case it left open — states saved by that release's serializer — loads and continues to its next step or
to its end, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, create_engine, select, text

from engine import clock
from engine.audit_verify import verify
from engine.cases import SERIALIZER_VERSION
from engine.db import current_revision, head_revision, make_engine, upgrade
from engine.models import CaseInstance
from engine.registry import Registry
from tests.api_support import HTTPS
from tests.engine_support import ROOT, assert_one_event_per_state_change, environment
from web.cli import cli

RELEASES = sorted(p for p in (Path(__file__).parent / "golden" / "releases").iterdir() if (p / "jichi.sql").is_file())
DAY = dt.datetime(2026, 4, 6, 0, 30, tzinfo=dt.UTC)


def _load(release: Path, url: str, tmp_path: Path) -> dict[str, Any]:
    """The release's database at url (the dump as it is on SQLite; its rows copied table by table on PostgreSQL,
    into the same schema revision built by this version's migrations)."""
    manifest: dict[str, Any] = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    dump = (release / "jichi.sql").read_text(encoding="utf-8")
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        connection.executescript(dump)
        connection.close()
        return manifest
    source_path = tmp_path / "release.sqlite3"
    connection = sqlite3.connect(source_path)
    connection.executescript(dump)
    connection.close()
    upgrade(url, manifest["schema_revision"])
    source = create_engine(f"sqlite:///{source_path}")
    target = make_engine(url)
    tables = MetaData()
    tables.reflect(source)
    into = MetaData()
    into.reflect(target)
    protected = ("audit_event", "audit_personal", "audit_head")  # append-only triggers, off while loading
    with source.connect() as read, target.begin() as write:
        write.execute(text("SET TIME ZONE 'UTC'"))  # SQLite holds UTC without an offset
        for name in protected:
            write.execute(text(f"ALTER TABLE {name} DISABLE TRIGGER USER"))
        for table in reversed(into.sorted_tables):  # rows the migrations wrote (the deployment chain's head)
            if table.name != "alembic_version":
                write.execute(table.delete())
        for table in into.sorted_tables:
            if table.name == "alembic_version" or table.name not in tables.tables:
                continue
            rows = [dict(r) for r in read.execute(select(tables.tables[table.name])).mappings()]
            if rows:
                write.execute(table.insert(), rows)
            for column in table.primary_key.columns:  # explicit ids: move the sequence past them
                if column.autoincrement is True or (column.autoincrement == "auto" and column.type.python_type is int):
                    write.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                                       f"(SELECT coalesce(max({column.name}), 0) + 1 FROM {table.name}), false)"))
        for name in protected:
            write.execute(text(f"ALTER TABLE {name} ENABLE TRIGGER USER"))
    source.dispose()
    target.dispose()
    return manifest


@pytest.mark.parametrize("release", RELEASES, ids=[p.name for p in RELEASES])
def test_a_release_s_database_upgrades_and_its_cases_go_on(release: Path, blank_database_url: str,
                                                           tmp_path: Path) -> None:
    url = blank_database_url
    manifest = _load(release, url, tmp_path)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == manifest["schema_revision"]
    finally:
        engine.dispose()
    result = CliRunner().invoke(cli, ["db", "upgrade", "--as", "運用担当"], env={"JICHI_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    cases = manifest["cases"]
    with clock.frozen(DAY + dt.timedelta(days=1)) as now, environment(url, Registry.load(ROOT)) as env:
        with env.engine.connect() as connection:
            assert verify(connection).findings == []
            stored = dict(connection.execute(select(CaseInstance.id, CaseInstance.serializer_version)).all())
        assert set(stored.values()) == {manifest["serializer_version"]}  # what that release's serializer wrote
        for name, waiting in manifest["waiting_at"].items():  # every case loads as the release left it
            with env.session() as s:
                assert sorted(t.name for t in env.cases.get_case(s, cases[name]).tasks) == waiting, name
        env.complete(cases["juminhyo"], "交付", {"手数料収納済": True, "交付日": "2026-04-07"})
        env.complete(cases["shokan"], "払い戻しの決定", {"支払予定日": "2026-04-20"})
        now.advance(days=15)  # the 転入届's 14日経過 timer, due while nothing ran: fires once
        with env.session() as s:
            assert env.cases.fire_due_timers(s) == [cases["tennyu"]]
            assert env.cases.fire_due_timers(s) == []
        env.complete(cases["tennyu"], "本人確認", {"本人確認済": True})
        assert env.case(cases["juminhyo"]).status == "completed" and env.case(cases["shokan"]).status == "completed"
        with env.session() as s:
            data = env.cases.get_case(s, cases["juminhyo"]).data
            assert data["手数料"] == 600  # 南砺市's fee decided by the release, kept through the upgrade
            assert "住民票の記載" in {t.name for t in env.cases.get_case(s, cases["tennyu"]).tasks}
        assert env.case(cases["tennyu"]).serializer_version == SERIALIZER_VERSION  # written again by this version
        assert_one_event_per_state_change(env.engine)
    from web import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": url})
    answer = app.test_client().get(f"/api/cases/{cases['done']}", base_url=HTTPS,
                                   headers={"Authorization": f"Bearer {manifest['token']}"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "completed", answer.get_json()
    from web.db import get_engine

    with app.app_context():
        get_engine().dispose()


def test_the_release_table_names_every_release_and_this_version_s_schema() -> None:
    """docs/operations.md「リリース」: a row per golden release with its manifest's schema revision and state format,
    and the development row with this version's head revision and format — a migration or a format change added
    without its row fails here."""
    section = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8").split("## リリース", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| リリース")]
    released = {row[0]: row for row in rows if not row[0].startswith("（開発中")}
    assert sorted(released) == [p.name for p in RELEASES]
    for release in RELEASES:
        manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
        assert released[release.name][2].split("（")[0] == manifest["schema_revision"]
        assert released[release.name][3] == manifest["serializer_version"]
    (development,) = [row for row in rows if row[0].startswith("（開発中")]
    assert development[2].split("（")[0] == head_revision()
    assert development[3] == SERIALIZER_VERSION
