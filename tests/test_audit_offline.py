"""The offline verifier printed in docs/audit.md works: an auditor can verify a copy without jichi."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from engine.audit_verify import verify
from engine.db import make_engine, upgrade
from tests.audit_support import bypass_protection
from tests.engine_support import ROOT, environment


def offline_script() -> str:
    doc = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    section = doc[doc.index("### オフラインでの検証"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def run_offline(tmp_path: Path, database: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "verify_offline.py"
    script.write_text(offline_script(), encoding="utf-8")
    return subprocess.run([sys.executable, str(script), str(database)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_documented_offline_verifier_agrees_with_jichi(tmp_path: Path) -> None:
    database = tmp_path / "copy.sqlite3"
    url = f"sqlite:///{database}"
    upgrade(url)
    with environment(url) as env:
        case_id = env.start("Process_Sashimodoshi", {"件名": "備品購入"})
        env.complete(case_id, "起案", {"起案回数": 1})
    result = run_offline(tmp_path, database)
    assert result.returncode == 0, result.stdout + result.stderr
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            chains = {ch.municipality: ch for ch in verify(c).chains if ch.events}
        assert sorted(result.stdout.splitlines()) == sorted(
            f"OK {ch.municipality} {ch.events} {ch.head_hash}" for ch in chains.values())
        with engine.connect() as c:
            bypass_protection(c)
            c.execute(text("UPDATE audit_personal SET data_after = '{}' WHERE municipality_code = '141305' AND seq = 2"))
            c.commit()
    finally:
        engine.dispose()
    result = run_offline(tmp_path, database)
    assert result.returncode == 1 and "NG 141305:2" in result.stdout
