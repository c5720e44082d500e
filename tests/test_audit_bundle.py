"""Evidence bundles (engine/audit_bundle.py, `jichi audit export`) checked by the standalone verifier they carry
(engine/audit_bundle_verifier.py as verify.py), run in an isolated interpreter that cannot import jichi: a clerk
searches residents and opens a resident's case; the auditor exports what concerns that resident; the verifier
accepts the bundle, and rejects it after any one changed byte."""

from __future__ import annotations

import ast
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from engine.audit_checkpoint import keygen
from engine.db import make_engine, make_session_factory
from engine.residents import import_csv
from tests.api_support import HTTPS
from tests.audit_support import run_bundle_verifier
from tests.test_access_log import RESIDENTS, _tennyu
from tests.test_clerk_web import A, app, signed_in  # noqa: F401  (app is a fixture)

VERIFIER = Path(__file__).resolve().parent.parent / "engine" / "audit_bundle_verifier.py"


@pytest.fixture
def bundle(app: Flask, database_url: str, tmp_path: Path) -> tuple[Path, Path]:  # noqa: F811
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    key = tmp_path / "keys" / "signing.key"
    with sessions() as s:
        import_csv(s, A, RESIDENTS, "residents.csv", "admin")
        keygen(s, key, actor="admin")
        s.commit()
    engine.dispose()
    client, csrf = signed_in(app, "madoguchi")
    client.get("/residents?q=やまだ", base_url=HTTPS)
    case_id = _tennyu(client, csrf, "山田 太郎")
    client.get(f"/cases/{case_id}", base_url=HTTPS)
    _tennyu(client, csrf, "佐藤 次郎")  # another resident's case, after: in the run, not selected
    out = tmp_path / "bundle" / "yamada.zip"
    shown = CliRunner().invoke(__import__("web.cli", fromlist=["cli"]).cli, [
        "audit", "export", "--municipality", A, "--resident", "2001", "--out", str(out),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--key", str(key), "--as", "kansa", "--json"],
        env={"JICHI_DATABASE_URL": database_url})
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.output)
    assert answer["selected"] >= 4 and answer["included"] > answer["selected"]
    return out, key


def test_the_standalone_verifier_accepts_the_bundle_and_says_what_it_proves(bundle: tuple[Path, Path]) -> None:
    out, key = bundle
    result = run_bundle_verifier(out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "合格" in result.stdout and f"証明できること: 団体 {A}" in result.stdout
    assert "証明できないこと" in result.stdout and "束に入っていた鍵" in result.stdout
    pinned = run_bundle_verifier(out, Path(str(key) + ".pub"))
    assert pinned.returncode == 0 and "指定された公開鍵" in pinned.stdout
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        events = [json.loads(line) for line in archive.read(f"events/{A}.jsonl").decode().splitlines()]
    assert {"README.md", "verify.py", "manifest.json", "SHA256SUMS", "SHA256SUMS.sig", f"checkpoints/{A}.json"} <= names
    assert manifest["scope"] == {"municipalities": [A], "resident": "2001"}
    chosen = [e for e in events if e["selected"]]
    searched = next(e for e in chosen if e["action"] == "resident.searched")
    assert json.loads(searched["payload"]["personal"]) == {"query": "やまだ", "residents": ["2001", "2002"]}
    assert all("payload" not in e for e in events if not e["selected"])  # others: digests only


def test_another_key_is_refused(bundle: tuple[Path, Path], database_url: str, tmp_path: Path) -> None:
    out, _ = bundle
    engine = make_engine(database_url)
    other = tmp_path / "other" / "signing.key"
    with make_session_factory(engine)() as s:
        keygen(s, other, actor="admin")
        s.commit()
    engine.dispose()
    result = run_bundle_verifier(out, Path(str(other) + ".pub"))
    assert result.returncode == 1 and "指定された公開鍵で署名されていません" in result.stdout


def _rezip(out: Path, name: str, change: bytes | None) -> Path:
    """The bundle with file `name` changed in one byte (or left out), zipped again correctly."""
    with zipfile.ZipFile(out) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    if change is None:
        del files[name]
    else:
        data = bytearray(files[name])
        position = len(data) // 2
        data[position] = (data[position] + 1) % 256 if data[position] != ord("\n") else ord(" ")
        files[name] = bytes(data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, data in files.items():
            archive.writestr(n, data)
    changed = out.with_name(f"changed-{name.replace('/', '_')}.zip")
    changed.write_bytes(buffer.getvalue())
    return changed


def test_one_changed_byte_anywhere_is_rejected(bundle: tuple[Path, Path]) -> None:
    out, _ = bundle
    with zipfile.ZipFile(out) as archive:
        names = [n for n in archive.namelist() if n != "verify.py"]  # the verifier itself is run from outside
    for name in names:
        result = run_bundle_verifier(_rezip(out, name, b"x"))
        assert result.returncode == 1 and "不合格" in result.stdout, (name, result.stdout)
    assert run_bundle_verifier(_rezip(out, f"checkpoints/{A}.json", None)).returncode == 1
    raw = out.read_bytes()
    for position in (40, len(raw) // 3, len(raw) // 2, len(raw) - 30):  # bytes of the zip itself
        damaged = out.with_name(f"raw-{position}.zip")
        data = bytearray(raw)
        data[position] ^= 0x01
        damaged.write_bytes(bytes(data))
        result = run_bundle_verifier(damaged, source=out)
        assert result.returncode == 1, (position, result.stdout, result.stderr)


def test_the_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(VERIFIER.read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert modules - {"cryptography"} <= set(sys.stdlib_module_names), modules
    assert "cryptography" in modules
