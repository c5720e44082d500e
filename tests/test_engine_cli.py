"""A case from `jichi case start` to completion, every step its own `jichi` process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JICHI = str(Path(sys.executable).parent / "jichi")


def jichi(url: str, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JICHI_DATABASE_URL": url}
    result = subprocess.run([JICHI, *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120, check=False)
    assert "Traceback" not in result.stderr
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def ready_task(url: str, case_id: str) -> dict[str, Any]:
    (task,) = json.loads(jichi(url, "task", "list", "--case", case_id, "--json").stdout)
    return dict(task)


def test_juminhyo_case_through_separate_processes(database_url: str, tmp_path: Path) -> None:
    jichi(database_url, "demo", "load")
    # 南砺市: its pack sets the fee (300円 a copy) that the core leaves open.
    case = json.loads(jichi(database_url, "case", "start", "Process_JuminhyoKofu", "--municipality", "162108",
                            "--as", "窓口A", "--json").stdout)
    assert case["status"] == "running"
    steps = [
        ("受付", {"受付日": "2026-04-01", "請求者区分": "本人", "郵送請求": False, "請求通数": 3}),
        ("本人確認", {"本人確認書類": [{"種別": "マイナンバーカード", "有効期限": "2030-01-01"}], "委任状あり": False,
                      "返送先が住民票の住所": True}),
        ("交付", {"手数料収納済": True, "交付日": "2026-04-01"}),
    ]
    for name, data in steps:
        task = ready_task(database_url, case["id"])
        assert task["name"] == name
        # stdin and a short id prefix, as a clerk at a terminal would use them
        jichi(database_url, "task", "complete", task["id"][:8], "--data", "-", "--as", "窓口A",
              stdin=json.dumps(data, ensure_ascii=False))
    shown = json.loads(jichi(database_url, "case", "show", case["id"], "--json").stdout)
    assert shown["status"] == "completed" and shown["tasks"] == []
    assert shown["data"]["手数料"] == 900
    assert [t["name"] for t in shown["history"]] == ["受付", "本人確認", "交付"]


def test_cli_refusals_are_diagnostics_not_tracebacks(database_url: str, tmp_path: Path) -> None:
    jichi(database_url, "demo", "load")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = jichi(database_url, "case", "start", "Process_JuminhyoKofu", "--municipality", "141305",
                   "--data", str(bad), ok=False)
    assert result.returncode == 1 and "ENG512" in result.stderr
    result = jichi(database_url, "task", "complete", "00000000-0000-0000-0000-000000000000", "--as", "x",
                   "--json", ok=False)
    assert result.returncode == 1
    assert json.loads(result.stdout)["diagnostics"][0]["code"] == "ENG514"
    result = jichi(database_url, "case", "start", "Process_Nothing", "--municipality", "141305", ok=False)
    assert result.returncode == 1 and "ENG510" in result.stderr
    assert json.loads(jichi(database_url, "worker", "--once", "--json").stdout) == {"moved": []}


def test_several_task_ids_complete_as_one_batch(database_url: str) -> None:
    jichi(database_url, "demo", "load")
    first = {"受付日": "2026-04-01", "請求者区分": "本人", "郵送請求": False, "請求通数": 1}
    ids = [json.loads(jichi(database_url, "case", "start", "Process_JuminhyoKofu", "--municipality", "162108",
                            "--as", "窓口A", "--json").stdout)["id"] for _ in range(3)]
    tasks = [ready_task(database_url, case_id)["id"] for case_id in ids]
    result = jichi(database_url, "task", "complete", *tasks, "00000000-0000-0000-0000-000000000000", "--data", "-",
                   "--as", "窓口A", "--json", stdin=json.dumps(first, ensure_ascii=False), ok=False)
    assert result.returncode == 1  # one of the four was refused …
    answers = json.loads(result.stdout)
    assert [a.get("status") for a in answers[:3]] == ["running"] * 3
    assert answers[3]["diagnostics"][0]["code"] == "ENG514"
    for case_id in ids:  # … and the three others went on
        assert ready_task(database_url, case_id)["name"] == "本人確認"
    text = jichi(database_url, "task", "complete", *tasks, "--as", "窓口A", ok=False)
    assert text.returncode == 1 and "完了 0 件、受け付けられなかったもの 3 件" in text.stdout and "ENG511" in text.stderr
