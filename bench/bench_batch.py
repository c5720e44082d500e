"""児童手当 batch re-evaluation (a 法改正 recalculation, issue 14): `jichi rules batch` over N recipients — the
monthly total of each on the new date compared with the month before — with 1 and 2 worker processes. The
recipients are synthetic (1–4 children born 2004–2026, some past 18 with 生計費負担), seeded, as JSON Lines.

    .venv/bin/python bench/bench_batch.py [--recipients 100000]

Reports the command's own rate (reading, evaluating twice, writing; after the rules are loaded) and the wall
time of the whole command (process start and rule loading included). Target: ≥ 5,000 recipients/s.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JICHI = str(Path(sys.executable).parent / "jichi")


def recipients(path: Path, count: int) -> None:
    rng = random.Random(14)
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            children = [{"名前": f"子{k}", "生年月日": f"{rng.randrange(2004, 2027)}-{rng.randrange(1, 13):02d}-"
                                                      f"{rng.randrange(1, 29):02d}",
                         "監護": True, "生計費負担": rng.random() < 0.5}
                        for k in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4)))]
            out.write(json.dumps({"id": f"R{i:06d}", "input": {
                "児童": children, "認定請求日": "2024-10-01", "請求者が公務員": False, "特例の事由": "なし",
                "出生日": "2024-10-01", "転出予定日": "2024-10-01"}}, ensure_ascii=False) + "\n")


def run(count: int) -> dict[str, Any]:
    results: dict[str, Any] = {"recipients": count}
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "recipients.jsonl"
        recipients(source, count)
        for workers in (1, 2):
            began = time.perf_counter()
            done = subprocess.run([JICHI, "rules", "batch", "--municipality", "141305", "--procedure",
                                   "児童手当の月額合計", "--input", str(source), "--on", "2026-06-01", "--before",
                                   "2026-05-01", "--out", str(Path(folder) / "out.jsonl"), "--workers", str(workers),
                                   "--json"], cwd=ROOT, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - began
            assert done.returncode == 0, done.stderr
            summary = json.loads(done.stdout)
            results[f"workers {workers}"] = {"per_second": summary["per_second"], "wall_s": round(wall, 1),
                                             "wall_per_second": round(count / wall, 1), "changed": summary["changed"],
                                             "errors": summary["errors"]}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(run(args.recipients), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
