"""Write the golden database of a release (docs/operations.md「リリース」): run in the release's own checkout,

    cd <checkout of the release tag> && PYTHONPATH=. <python> <this file> --out <dir>/jichi.sql

so that every row — case states saved by that release's serializer, audit chains, accounts, activations — is
exactly what that release writes. It fills a fresh SQLite database with a day of work at two municipalities and
writes it as SQL text (sqlite3's iterdump: reviewable, diffable) with manifest.json naming the cases and where
each one waits. tests/test_upgrades.py loads every release's database, upgrades it with this version's
`jichi db upgrade`, and continues the cases.

Only interfaces that every release has are used (Cases, Registry, accounts, residents, organisation, rule
versions, the access log).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import tempfile
from pathlib import Path

from engine import accounts, clock, rule_versions
from engine.access_log import record
from engine.cases import SERIALIZER_VERSION, Cases
from engine.db import current_revision, make_engine, make_session_factory, upgrade
from engine.demo import load_demo
from engine.organisation import import_chart, read_chart_file
from engine.paths import project_root
from engine.registry import Registry
from engine.residents import import_csv

KAWASAKI, NANTO = "141305", "162108"
DAY = dt.datetime(2026, 4, 6, 0, 30, tzinfo=dt.UTC)  # 09:30 in Tokyo


def _complete(cases: Cases, session: object, case_id: str, name: str, data: dict[str, object]) -> None:
    task = next(t for t in cases.get_case(session, case_id).tasks if t.name == name)  # type: ignore[arg-type]
    cases.complete_task(session, task.id, data, "窓口A")  # type: ignore[arg-type]


def build(url: str, root: Path) -> dict[str, object]:
    upgrade(url)
    clock.install_spiff_clock()
    cases = Cases(Registry.load(root))
    engine = make_engine(url)
    manifest: dict[str, object] = {}
    with clock.frozen(DAY), make_session_factory(engine)() as s:
        load_demo(s)
        import_chart(s, read_chart_file(root / "tests" / "fixtures" / "organisation" / "chart_2024.toml"), "人事課")
        csv = root / "tests" / "fixtures" / "residents" / "kawasaki.csv"
        import_csv(s, KAWASAKI, csv.read_text(encoding="utf-8"), csv.name, "住民記録係")
        accounts.add_user(s, login="madoguchi", display_name="窓口 一郎", actor="admin")
        accounts.set_password(s, login="madoguchi", password="窓口の長いパスフレーズです", actor="admin")
        accounts.grant(s, login="madoguchi", municipality=KAWASAKI, role="clerk", actor="admin")
        accounts.grant(s, login="madoguchi", municipality=NANTO, role="clerk", actor="admin")
        manifest["token"] = accounts.create_token(s, login="madoguchi", name="連携", actor="admin")
        s.commit()
        rule_versions.activate(s, root, pack_id="141305-kawasaki", version=_version(root, "141305-kawasaki"),
                               municipality=KAWASAKI, effective_from=dt.date(2023, 9, 1), actor="admin")
        s.commit()

        tennyu = cases.start_case(s, process_id="Process_Tennyu", municipality=KAWASAKI, data={}, actor="窓口A").id
        _complete(cases, s, tennyu, "受付", {"氏名": "川崎 花子", "転入日": "2026-04-01", "届出日": "2026-04-06",
                                             "前住所": "東京都千代田区", "世帯員数": 2})
        juminhyo = cases.start_case(s, process_id="Process_JuminhyoKofu", municipality=NANTO, data={},
                                    actor="窓口A").id
        _complete(cases, s, juminhyo, "受付", {"受付日": "2026-04-06", "請求者区分": "本人", "郵送請求": False,
                                               "請求通数": 2})
        _complete(cases, s, juminhyo, "本人確認", {"本人確認書類": [{"種別": "マイナンバーカード",
                                                                  "有効期限": "2030-01-01"}]})
        done = cases.start_case(s, process_id="Process_JuminhyoKofu", municipality=NANTO, data={},
                                actor="窓口A").id
        _complete(cases, s, done, "受付", {"受付日": "2026-04-06", "請求者区分": "本人", "郵送請求": False,
                                           "請求通数": 1})
        _complete(cases, s, done, "本人確認", {"本人確認書類": [{"種別": "マイナンバーカード",
                                                              "有効期限": "2030-01-01"}]})
        _complete(cases, s, done, "交付", {"手数料収納済": True, "交付日": "2026-04-06"})
        shokan = cases.start_case(s, process_id="Process_Kawasaki_ShokanBarai", municipality=KAWASAKI, data={},
                                  actor="窓口A").id
        _complete(cases, s, shokan, "払い戻し申請の受付", {"診療日": "2025-06-02", "生年月日": "2015-06-01",
                                                           "区分": "通院", "所得割非課税世帯": False,
                                                           "保険診療の自己負担額": 1260})
        record(s, municipality=KAWASAKI, actor="madoguchi", action="case.viewed", screen="clerk.case_page",
               via="web", address="10.0.0.7", case_id=tennyu)
        s.commit()
        manifest["cases"] = {"tennyu": tennyu, "juminhyo": juminhyo, "done": done, "shokan": shokan}
        manifest["waiting_at"] = {name: sorted(t.name for t in cases.get_case(s, case_id).tasks)
                                  for name, case_id in (("tennyu", tennyu), ("juminhyo", juminhyo),
                                                        ("done", done), ("shokan", shokan))}
    manifest["schema_revision"] = current_revision(engine)
    manifest["serializer_version"] = SERIALIZER_VERSION
    engine.dispose()
    return manifest


def _version(root: Path, pack: str) -> str:
    import tomllib

    return str(tomllib.loads((root / "local_rules" / pack / "pack.toml").read_text(encoding="utf-8"))["version"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the .sql file to write (manifest.json beside it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "release.sqlite3"
        manifest = build(f"sqlite:///{path}", project_root())
        connection = sqlite3.connect(path)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(connection.iterdump()) + "\n", encoding="utf-8")
        connection.close()
    (args.out.parent / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                                   encoding="utf-8")


if __name__ == "__main__":
    main()
