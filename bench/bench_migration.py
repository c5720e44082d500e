"""Data migration (issue 15): a dry run and the import of N residents from a synthetic legacy export (CP932 CSV,
1 % of the names with a mapped 外字 of the user-defined area, 0.1 % with an unmapped one), as `jichi migrate`
does them, on SQLite (default) or PostgreSQL. Target: 100,000 residents, dry run included, in under 60 s.

    .venv/bin/python bench/bench_migration.py [--residents 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fresh_postgres  # noqa: E402
from engine.db import make_engine, make_session_factory, upgrade  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.migration import MappingSpec, import_records, read  # noqa: E402
from standard_core.gaiji import GaijiTable  # noqa: E402

MAPPING = (ROOT / "tests" / "fixtures" / "migration" / "legacy_csv.toml").read_text(encoding="utf-8")
GAIJI = "旧コード,文字,MJ文字図形名,備考\n0xF040,U+8FBA U+E0100,,\n0xF041,U+9AD9,,\n"
SURNAMES = [("佐藤", "ｻﾄｳ"), ("鈴木", "ｽｽﾞｷ"), ("高橋", "ﾀｶﾊｼ"), ("田中", "ﾀﾅｶ"), ("渡辺", "ﾜﾀﾅﾍﾞ"), ("伊藤", "ｲﾄｳ"),
            ("山本", "ﾔﾏﾓﾄ"), ("中村", "ﾅｶﾑﾗ"), ("小林", "ｺﾊﾞﾔｼ"), ("加藤", "ｶﾄｳ")]
GIVEN = [("太郎", "ﾀﾛｳ"), ("花子", "ﾊﾅｺ"), ("一郎", "ｲﾁﾛｳ"), ("美咲", "ﾐｻｷ"), ("翔太", "ｼｮｳﾀ"), ("陽菜", "ﾋﾅ")]


def export(residents: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = [b"ATENA_NO,SHIMEI,KANA,SEINENGAPPI,JUSHO"]
    for n in range(1, residents + 1):
        (surname, s_kana), (given, g_kana) = rng.choice(SURNAMES), rng.choice(GIVEN)
        name = surname.encode("cp932")
        roll = rng.random()
        if roll < 0.01:
            name = "渡".encode("cp932") + b"\xf0\x40"  # 渡 + a mapped 外字 (辺 with its IVS)
        elif roll < 0.011:
            name += b"\xf0\x42"  # an unmapped 外字: reported, the record rejected
        born = f"{rng.randint(1930, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        address = f"川崎市中原区小杉町{rng.randint(1, 3)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号".encode("cp932")
        lines.append(b",".join([f"{100000 + n}".encode(), name + "　".encode("cp932") + given.encode("cp932"),
                                f"{s_kana} {g_kana}".encode("cp932"), born.encode(), address]))
    return b"\r\n".join(lines) + b"\r\n"


def run(url: str, residents: int) -> dict[str, Any]:
    data = export(residents)
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as s:
        load_demo(s)
        s.commit()
    table, problems = GaijiTable.parse(GAIJI)
    assert not problems
    began = time.perf_counter()
    report, records = read(MappingSpec.parse(MAPPING), table, data, "bench.csv")
    dry = time.perf_counter() - began
    began = time.perf_counter()
    result = import_records(sessions, "141305", records, report, "bench", batch=1000)
    imported = time.perf_counter() - began
    engine.dispose()
    return {"residents": residents, "bytes": len(data), "clean": report.clean, "rejected": len(report.rejected),
            "mapped": report.mapped, "added": result.added, "dry_run_s": round(dry, 1), "import_s": round(imported, 1),
            "total_s": round(dry + imported, 1), "per_second": round(residents / (dry + imported))}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_postgres(args.postgres, "jichi_bench_migration") if args.postgres else \
            f"sqlite:///{folder}/migration.sqlite3"
        print(json.dumps(run(url, args.residents), ensure_ascii=False))


if __name__ == "__main__":
    main()
