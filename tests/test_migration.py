"""Data migration (engine/migration.py, `jichi migrate`): a synthetic legacy export — CP932 with user-defined-area
外字, CSV and fixed-width, bad rows, duplicates — round-trips: every mapped 外字 lands as the intended Unicode
sequence, every unmapped one is reported with its record and position, nothing else changes; an import killed
mid-way and re-run ends with each resident exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.db import make_engine, make_session_factory
from engine.demo import load_demo
from engine.migration import MappingSpec, import_records, read
from engine.models import AuditEvent, Resident
from standard_core.diagnostics import DiagnosticError
from standard_core.gaiji import GaijiTable
from tests.api_support import HTTPS, api_app
from tests.test_clerk_web import PASSWORD, signed_in
from web.cli import cli

ROOT = Path(__file__).resolve().parent.parent
A = "162108"  # 南砺市 (a demo municipality)
BEN_IVS = "\u8fba\U000e0100"  # 辺 + VS17
GAIJI = """旧コード,文字,MJ文字図形名,備考
0xF040,U+8FBA U+E0100,MJ028227,辺の異体
0xF041,U+9AD9,,髙
"""
# (宛名番号, 氏名 as CP932 bytes, カナ (half-width, as legacy systems keep it), 生年月日, 住所 bytes)
ROWS: list[tuple[str, bytes, bytes, str, bytes]] = [
    ("1001", "渡".encode("cp932") + b"\xf0\x40" + "　太郎".encode("cp932"), "ﾜﾀﾅﾍﾞ ﾀﾛｳ".encode("cp932"), "19800401",
     "川崎市中原区1".encode("cp932")),
    ("1002", b"\xf0\x41" + "橋　花子".encode("cp932"), "ﾀｶﾊｼ ﾊﾅｺ".encode("cp932"), "19900515",
     "川崎市幸区2".encode("cp932") + b"\x81\x60" + "3".encode("cp932")),  # 0x8160: U+FF5E
    ("1003", "塚\ufa10田　神\ufa19".encode("cp932"), "ﾂｶﾀﾞ ｼﾝ".encode("cp932"), "20010101", "川崎市".encode("cp932")),
    ("1004", "山".encode("cp932") + b"\xf0\x42" + "　一".encode("cp932"), "ﾔﾏｻﾞｷ ﾊｼﾞﾒ".encode("cp932"), "19700101",
     "川崎市".encode("cp932")),  # F042 → U+E002: not in the table
    ("1005", "佐藤　次郎".encode("cp932"), "ｻﾄｳ ｼﾞﾛｳ".encode("cp932"), "19701399", "川崎市".encode("cp932")),  # bad date
    ("1006", "鈴木".encode("cp932") + b"\x85\x40", "ｽｽﾞｷ".encode("cp932"), "19700101", "川崎市".encode("cp932")),
    ("1007", "田中　一郎".encode("cp932"), "ﾀﾅｶ ｲﾁﾛｳ".encode("cp932"), "19700101", "川崎市".encode("cp932")),
    ("1007", "田中　一朗".encode("cp932"), "ﾀﾅｶ ｲﾁﾛｳ".encode("cp932"), "19700102", "川崎市".encode("cp932")),  # dup
    ("1008", "小林　三郎".encode("cp932"), "ｺﾊﾞﾔｼ ｻﾌﾞﾛｳ".encode("cp932"), "19600606", "川崎市麻生区".encode("cp932")),
]
EXPECTED = {  # what lands, byte for byte
    "1001": (f"渡{BEN_IVS}　太郎", "ワタナベ タロウ"),
    "1002": ("髙橋　花子", "タカハシ ハナコ"),
    "1003": ("塚\ufa10田　神\ufa19", "ツカダ シン"),
    "1008": ("小林　三郎", "コバヤシ サブロウ"),
}
CSV_MAPPING = (Path(__file__).parent / "fixtures" / "migration" / "legacy_csv.toml").read_text(encoding="utf-8")
FIXED_MAPPING = """[source]
format = "fixed"
encoding = "cp932"

[columns]
"宛名番号" = "1:10"
"氏名" = "11:30"
"氏名カナ" = "41:20"
"生年月日" = "61:8"
"住所" = "69:40"

[values]
"生年月日" = "yyyymmdd"
"""


def legacy_csv() -> bytes:
    lines = [b"ATENA_NO,SHIMEI,KANA,SEINENGAPPI,JUSHO"]
    lines += [b",".join([n.encode(), name, kana, born.encode(), address]) for n, name, kana, born, address in ROWS]
    return b"\r\n".join(lines) + b"\r\n"


def legacy_fixed() -> bytes:
    def pad(value: bytes, width: int) -> bytes:
        assert len(value) <= width
        return value + b" " * (width - len(value))

    return b"".join(pad(n.encode(), 10) + pad(name, 30) + pad(kana, 20) + born.encode() + pad(address, 40) + b"\r\n"
                    for n, name, kana, born, address in ROWS)


def table() -> GaijiTable:
    found, problems = GaijiTable.parse(GAIJI)
    assert problems == []
    return found


@pytest.mark.parametrize(("mapping", "export", "undecodable"), [
    (CSV_MAPPING, legacy_csv, (6, "", "10 バイト目: 0x85 0x40")),  # a CSV line is decoded whole: byte of the line
    (FIXED_MAPPING, legacy_fixed, (6, "氏名", "5 バイト目: 0x85 0x40")),  # a fixed field by itself: byte of the field
], ids=["csv", "fixed"])
def test_the_dry_run_maps_reports_and_rejects_exactly(mapping: str, export: object,
                                                       undecodable: tuple[int, str, str]) -> None:
    data = export()  # type: ignore[operator]
    report, records = read(MappingSpec.parse(mapping), table(), data, "export")
    assert report.records == 9 and report.clean == 4 and report.mapped == 2
    assert {r.values["atena_number"]: (r.values["name"], r.values["name_kana"]) for r in records} == EXPECTED
    assert [r.values["address"] for r in records if r.values["atena_number"] == "1002"] == ["川崎市幸区2\uff5e3"]
    problems = {(p.record, p.field, p.position, p.code) for ps in report.rejected.values() for p in ps}
    assert (4, "氏名", 2, "U+E002") in problems  # the unmapped 外字: record, field, position, code
    assert any(p[0] == 5 and p[1] == "生年月日" for p in problems)
    assert (undecodable[0], undecodable[1], None, undecodable[2]) in problems  # never decoded with a replacement
    assert report.duplicates == {"1007": [7, 8]} and set(report.rejected) == {4, 5, 6, 7, 8}
    assert report.to_json()["unmapped"] == [{"code": "U+E002", "kind": "gaiji", "records": 1, "first": [4, "氏名", 2]}]
    assert "4,1004,氏名,2,U+E002," in report.csv()


def test_fixed_width_records_without_line_endings_read_the_same() -> None:
    mapping = FIXED_MAPPING.replace('encoding = "cp932"', 'encoding = "cp932"\nrecord_length = 108')
    report, records = read(MappingSpec.parse(mapping), table(), legacy_fixed().replace(b"\r\n", b""), "export")
    assert report.records == 9 and {r.values["atena_number"]: (r.values["name"], r.values["name_kana"])
                                    for r in records} == EXPECTED


def test_a_mapped_column_missing_from_the_header_is_one_clear_error() -> None:
    with pytest.raises(DiagnosticError) as raised:
        read(MappingSpec.parse(CSV_MAPPING.replace('"JUSHO"', '"ADDRESS"')), table(), legacy_csv(), "export")
    (d,) = raised.value.diagnostics
    assert d.code == "MIG110" and "「ADDRESS」" in d.message and "JUSHO" in d.hint


def test_without_a_table_every_gaiji_is_reported_and_nothing_is_replaced() -> None:
    report, records = read(MappingSpec.parse(CSV_MAPPING), GaijiTable(), legacy_csv(), "export")
    assert report.mapped == 0 and {r.values["atena_number"] for r in records} == {"1003", "1008"}
    assert {code for code in report.gaiji} == {"U+E000", "U+E001", "U+E002"}
    assert all("\ue000" not in r.values["name"] and "?" not in r.values["name"] for r in records)


def test_a_broken_mapping_file_names_every_problem() -> None:
    with pytest.raises(DiagnosticError) as raised:
        MappingSpec.parse('[source]\nformat = "xml"\nencoding = "sjis"\n[columns]\n"性別" = "A"\n"氏名" = "B"\n')
    messages = [d.message for d in raised.value.diagnostics]
    assert {d.code for d in raised.value.diagnostics} == {"MIG110"} and len(messages) == 5  # format, encoding,
    assert any("性別" in m for m in messages) and any("宛名番号" in m for m in messages)  # item, 2 required
    for hostile in ("[source\n", "source = 3\n", 'values = "x"\n[columns]\n"宛名番号" = 1\n"氏名" = 2\n"生年月日" = 3\n',
                    '[columns]\n"宛名番号" = [1]\n"氏名" = 2\n"生年月日" = true\n'):
        with pytest.raises(DiagnosticError) as bad:
            MappingSpec.parse(hostile)
        assert {d.code for d in bad.value.diagnostics} == {"MIG110"}, hostile


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {"export": tmp_path / "legacy.csv", "mapping": tmp_path / "mapping.toml", "gaiji": tmp_path / "gaiji.csv"}
    files["export"].write_bytes(legacy_csv())
    files["mapping"].write_text(CSV_MAPPING, encoding="utf-8")
    files["gaiji"].write_text(GAIJI, encoding="utf-8")
    return files


def _args(files: dict[str, Path], command: str, *extra: str) -> list[str]:
    return ["migrate", command, str(files["export"]), "--municipality", A, "--mapping", str(files["mapping"]),
            "--gaiji", str(files["gaiji"]), *extra]


def _residents(url: str) -> dict[str, tuple[str, str | None]]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            return {r.atena_number: (r.name, r.name_kana) for r in s.scalars(select(Resident))}
    finally:
        engine.dispose()


def _prepare(url: str) -> None:
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        load_demo(s)
        s.commit()
    engine.dispose()


def test_dry_run_changes_nothing_and_the_import_is_idempotent(database_url: str, tmp_path: Path) -> None:
    _prepare(database_url)
    files = _files(tmp_path)
    env = {"JICHI_DATABASE_URL": database_url}
    report_csv, report_html = tmp_path / "report.csv", tmp_path / "report.html"
    dry = CliRunner().invoke(cli, _args(files, "dry-run", "--report-csv", str(report_csv), "--report-html",
                                        str(report_html)), env=env)
    assert dry.exit_code == 1 and "取り込める記録 4 件" in dry.output and "U+E002: 1 件" in dry.output, dry.output
    assert "4,1004,氏名,2,U+E002" in report_csv.read_text(encoding="utf-8")
    page = report_html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "データ移行の報告（団体 162108）" in page
    assert "<code>U+E002</code>" in page and "記録 4 の氏名 2 文字目" in page and "<td>1007</td><td>7, 8</td>" in page
    assert "はじかれた記録の理由（5 件）" in page  # records 4, 5, 6 and the two 1007s
    assert "<script" not in page
    assert _residents(database_url) == {}  # a dry run writes nothing
    first = CliRunner().invoke(cli, [*_args(files, "import", "--json"), "--batch", "3", "--as", "移行担当"], env=env)
    assert first.exit_code == 0, first.output
    shown = json.loads(first.output)
    assert (shown["added"], shown["updated"], shown["unchanged"], shown["batches"]) == (4, 0, 0, 2)
    assert _residents(database_url) == EXPECTED
    again = json.loads(CliRunner().invoke(cli, [*_args(files, "import", "--json"), "--as", "移行担当"], env=env).output)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 4)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "resident.migrated")))
        assert [(e.actor, json.loads(e.detail)["batch"]) for e in events] == [("移行担当", 1), ("移行担当", 2),
                                                                              ("移行担当", 1)]
        assert all("渡" not in e.detail for e in events)  # counts and record numbers, never the names
    engine.dispose()


@pytest.mark.parametrize("point", ["migrate_before_commit", "migrate_after_commit"])
def test_an_import_killed_mid_way_and_run_again_has_each_resident_once(database_url: str, tmp_path: Path,
                                                                        point: str) -> None:
    _prepare(database_url)
    files = _files(tmp_path)
    env = {**os.environ, "JICHI_DATABASE_URL": database_url, "JICHI_FAULT_POINT": point, "JICHI_FAULT_SKIP": "1"}
    command = [str(Path(sys.executable).parent / "jichi"), *_args(files, "import", "--batch", "1")]
    killed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert killed.returncode == -9, killed.stderr.decode()
    partial = _residents(database_url)
    assert len(partial) == (1 if point == "migrate_before_commit" else 2)  # the second batch: lost or kept whole
    env.pop("JICHI_FAULT_POINT")
    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert _residents(database_url) == EXPECTED
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Resident)) == 4
    engine.dispose()


def test_the_migration_team_sees_the_last_report_and_its_csv(database_url: str, tmp_path: Path) -> None:
    users = {"admin": ("ikou", f"{A}:admin"), "clerk": ("madoguchi", f"{A}:clerk")}
    for app, _ in api_app(database_url, users, password=PASSWORD):
        files = _files(tmp_path)
        env = {"JICHI_DATABASE_URL": database_url}
        assert CliRunner().invoke(cli, [*_args(files, "dry-run"), "--as", "移行担当"], env=env).exit_code == 1
        admin, _ = signed_in(app, "ikou")
        page = admin.get("/migration/", base_url=HTTPS)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "試行（dry-run）" in text and "legacy.csv" in text and "移行担当" in text
        assert "9 件（取り込める 4 件、はじかれた 5 件）" in text and "2 字" in text
        assert "<code>U+E002</code>" in text and "記録 4 の氏名 2 文字目" in text  # the unmapped 外字, where
        assert "<td>1007</td><td>7, 8</td>" in text  # the duplicated 宛名番号
        download = admin.get(f"/migration/{A}/report.csv", base_url=HTTPS)
        assert download.status_code == 200 and "4,1004,氏名,2,U+E002," in download.get_data(as_text=True)
        clerk, _ = signed_in(app, "madoguchi")
        assert clerk.get("/migration/", base_url=HTTPS).status_code == 404  # 管理者 only
        assert clerk.get(f"/migration/{A}/report.csv", base_url=HTTPS).status_code == 404
        assert admin.get("/migration/141305/report.csv", base_url=HTTPS).status_code == 404  # not theirs
        engine = make_engine(database_url)
        with make_session_factory(engine)() as s:
            actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.municipality_code == A)))
            assert {"migration.reported", "migration.report_viewed", "migration.report_downloaded"} <= set(actions)
        engine.dispose()


HOUSEHOLD_MAPPING = """[source]
format = "csv"
encoding = "utf-8"

[columns]
"宛名番号" = 1
"氏名" = 2
"生年月日" = 3
"世帯番号" = 4
"続柄" = 5
"""


def test_households_are_imported_whole_with_exactly_one_head(database_url: str) -> None:
    rows = [
        ("2001", "川崎　一郎", "R2.4.1", "901", "世帯主"), ("2002", "川崎　花子", "R2.4.1", "901", "妻"),
        ("2003", "川崎　次郎", "R2.4.1", "901", "子"),  # 901: whole, one head
        ("2011", "中原　春子", "R2.4.1", "902", "妻"), ("2012", "中原　夏子", "R2.4.1", "902", "子"),  # 902: no head
        ("2021", "幸　三郎", "R2.4.1", "903", "世帯主"), ("2022", "幸\ue005子", "R2.4.1", "903", "子"),  # 903: a member
        ("2031", "高津　一", "R2.4.1", "904", "世帯主"), ("2032", "高津　二", "R2.4.1", "904", "世帯主"),  # 2 heads
        ("2041", "宮前　四郎", "R2.4.1", "905", "長男"),  # not a 続柄区分 value (事務処理要領: 子)
        ("2051", "多摩　五郎", "R2.4.1", "906", ""),  # 世帯番号 without 続柄
        ("2061", "麻生　六郎", "R2.4.1", "", ""),  # no household given: a resident alone is allowed
    ]
    data = "\n".join(",".join(r) for r in rows).encode("utf-8")
    report, records = read(MappingSpec.parse(HOUSEHOLD_MAPPING.replace('encoding = "utf-8"',
                                                                       'encoding = "utf-8"\nheader = false')),
                           GaijiTable(), data, "setai.csv")
    assert {r.values["atena_number"]: (r.values["household_number"], r.values["relationship"]) for r in records} == {
        "2001": ("901", "世帯主"), "2002": ("901", "妻"), "2003": ("901", "子"), "2061": (None, None)}
    assert report.households_rejected == {
        "902": "世帯 902 に世帯主がいません",
        "903": "世帯 903 のほかの記録がはじかれたため、この世帯は取り込みません",
        "904": "世帯 904 に世帯主が 2 人います（記録 8, 9）"}
    reasons = {p.record: p.message for ps in report.rejected.values() for p in ps}
    assert "続柄区分にありません" in reasons[10] and "両方とも" in reasons[11] and "U+E005" in reasons[7]
    assert report.to_json()["households"] == 6
    _prepare(database_url)
    engine = make_engine(database_url)
    try:
        result = import_records(make_session_factory(engine), A, records, report, "移行担当")
        assert result.added == 4
        with make_session_factory(engine)() as s:
            stored = {r.atena_number: (r.household_number, r.relationship) for r in s.scalars(select(Resident))}
        assert stored == {"2001": ("901", "世帯主"), "2002": ("901", "妻"), "2003": ("901", "子"),
                          "2061": (None, None)}
    finally:
        engine.dispose()
