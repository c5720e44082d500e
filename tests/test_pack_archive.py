"""Signed pack archives: a vendor builds and signs, a municipality installs only what verifies against a key
it trusts. Unsigned, untrusted and altered archives (one byte) are refused and nothing is written."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.models import AuditEvent
from engine.pack_archive import build, install, keygen, trust
from standard_core.diagnostics import DiagnosticError
from tests.engine_support import ROOT, copy_core, environment

PACK = "162108-nanto"
NANTO = "162108"


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> Any:
    vendor = tmp_path / "vendor"
    shutil.copytree(ROOT / "local_rules" / PACK, vendor / "local_rules" / PACK)
    key = vendor / "keys" / "vendor.key"
    keygen(key)
    archive = build(vendor / "local_rules" / PACK, key, tmp_path / "dist")
    root = tmp_path / "municipality"
    copy_core(root)
    (root / "local_rules").mkdir()
    with environment(database_url) as env:
        yield env, root, archive, key


def _trust(env: Any, key: Path, municipality: str = NANTO) -> None:
    with env.session() as s:
        trust(s, municipality=municipality, pem=key.with_name(key.name + ".pub").read_bytes(), name="ベンダー",
              actor="情報政策課", where=str(key))


def _install(env: Any, archive: Path, root: Path) -> None:
    with env.session() as s:
        install(s, archive, root, actor="情報政策課")


def _refused(env: Any, archive: Path, root: Path) -> str:
    with pytest.raises(DiagnosticError) as caught:
        _install(env, archive, root)
    assert not (root / "local_rules" / PACK).exists()  # nothing written
    return caught.value.diagnostics[0].code


def _rewrite(archive: Path, target: Path, change: Any) -> Path:
    """A copy of the archive with `change(name, data) -> data | None` applied to each entry (None drops it)."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(target, "w") as dst:
        for entry in src.infolist():
            data = change(entry.filename, src.read(entry))
            if data is not None:
                dst.writestr(entry.filename, data)
    return target


def test_a_signed_archive_from_a_trusted_vendor_installs_and_is_audited(setup: Any) -> None:
    env, root, archive, key = setup
    _trust(env, key)
    _install(env, archive, root)
    assert (root / "local_rules" / PACK / "rules" / "tesuryo.rules").read_bytes() == \
        (ROOT / "local_rules" / PACK / "rules" / "tesuryo.rules").read_bytes()
    with env.session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "pack.installed")).one()
    detail = json.loads(event.detail)
    assert (event.municipality_code, detail["pack"], detail["version"]) == (NANTO, PACK, "0.1.0")


def test_one_byte_changed_is_refused(setup: Any, tmp_path: Path) -> None:
    env, root, archive, key = setup
    _trust(env, key)

    def flip(name: str, data: bytes) -> bytes:
        return data.replace("300円".encode(), "301円".encode(), 1) if name == "pack/rules/tesuryo.rules" else data

    assert _refused(env, _rewrite(archive, tmp_path / "changed.jpack", flip), root) == "PCK642"


@pytest.mark.parametrize(("change", "code"), [
    (lambda n, d: None if n == "SIGNATURE" else d, "PCK640"),  # unsigned
    (lambda n, d: None if n == "pack/CHANGELOG.md" else d, "PCK642"),  # a file removed
    (lambda n, d: d.replace(b'"0.1.0"', b'"0.1.1"') if n == "MANIFEST.json" else d, "PCK642"),  # manifest edited
], ids=["unsigned", "file-removed", "manifest-edited"])
def test_tampered_archives_are_refused(setup: Any, tmp_path: Path, change: Any, code: str) -> None:
    env, root, archive, key = setup
    _trust(env, key)
    assert _refused(env, _rewrite(archive, tmp_path / "tampered.jpack", change), root) == code


def test_a_file_added_to_the_archive_is_refused(setup: Any, tmp_path: Path) -> None:
    env, root, archive, key = setup
    _trust(env, key)
    with zipfile.ZipFile(archive, "a") as added:
        added.writestr("pack/rules/extra.rules", "追加 パラメータ 住民票の写しの手数料単価 { }\n")
    assert _refused(env, archive, root) == "PCK642"


def test_an_unknown_or_other_municipalitys_key_is_refused(setup: Any, tmp_path: Path) -> None:
    env, root, archive, key = setup
    assert _refused(env, archive, root) == "PCK641"  # nobody trusts it yet
    _trust(env, key, municipality="141305")  # trusted by 川崎市, but the pack serves 南砺市
    assert _refused(env, archive, root) == "PCK641"
    other = tmp_path / "other.key"
    keygen(other)
    _trust(env, other)  # 南砺市 trusts another vendor only
    assert _refused(env, archive, root) == "PCK641"


def test_a_path_outside_the_pack_is_refused(setup: Any, tmp_path: Path) -> None:
    env, root, archive, key = setup
    _trust(env, key)
    escape = _rewrite(archive, tmp_path / "escape.jpack", lambda n, d: d)
    with zipfile.ZipFile(escape, "a") as added:
        added.writestr("../../evil.py", "print('x')")
    assert _refused(env, escape, root) == "PCK643"


def test_cli_keygen_and_build(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from web.cli import cli

    key = tmp_path / "vendor.key"
    made = CliRunner().invoke(cli, ["pack", "keygen", str(key)])
    assert made.exit_code == 0 and key.stat().st_mode & 0o077 == 0
    again = CliRunner().invoke(cli, ["pack", "keygen", str(key)])
    assert again.exit_code == 1 and "PCK641" in again.output  # never overwrites a key
    built = CliRunner().invoke(cli, ["pack", "build", PACK, "--key", str(key), "--out", str(tmp_path / "dist")])
    assert built.exit_code == 0, built.output
    with zipfile.ZipFile(tmp_path / "dist" / f"{PACK}-0.1.0.jpack") as archive:
        manifest = json.loads(archive.read("MANIFEST.json"))
    assert manifest["pack"] == PACK and "rules/tesuryo.rules" in manifest["files"]
    missing = CliRunner().invoke(cli, ["pack", "build", "999999-nai", "--key", str(key)])
    assert missing.exit_code == 1


def test_key_rotation_trust_the_new_key_then_distrust_the_old(setup: Any, tmp_path: Path) -> None:
    from engine.pack_archive import distrust, trusted_key_rows

    env, root, archive, old_key = setup
    _trust(env, old_key)
    new_key = tmp_path / "vendor-2027.key"
    keygen(new_key)
    _trust(env, new_key)
    with env.session() as s:
        old_id = next(r.key_id for r in trusted_key_rows(s, NANTO) if r.public_key.strip() ==
                      old_key.with_name(old_key.name + ".pub").read_text(encoding="ascii").strip())
        with pytest.raises(DiagnosticError) as short:
            distrust(s, municipality=NANTO, key=old_id[:4], actor="情報政策課")
        assert short.value.diagnostics[0].code == "PCK644"
        assert distrust(s, municipality=NANTO, key=old_id[:12], actor="情報政策課") == old_id
    assert _refused(env, archive, root) == "PCK641"  # the old key's archives are refused from now on
    vendor_pack = tmp_path / "vendor" / "local_rules" / PACK
    _install(env, build(vendor_pack, new_key, tmp_path / "dist-2027"), root)  # the new key's install
    with env.session() as s:
        rows = {r.key_id: r for r in trusted_key_rows(s, NANTO)}
        assert rows[old_id].revoked_at is not None and rows[old_id].revoked_by == "情報政策課"
        assert sum(r.revoked_at is None for r in rows.values()) == 1
        revoked = s.scalars(select(AuditEvent).where(AuditEvent.action == "pack.key_revoked")).one()
        assert json.loads(revoked.detail)["key_id"] == old_id
        with pytest.raises(DiagnosticError):  # revoking twice: nothing left to revoke
            distrust(s, municipality=NANTO, key=old_id, actor="情報政策課")
    _trust(env, old_key)  # trusting it again is a new, audited decision
    with env.session() as s:
        assert next(r for r in trusted_key_rows(s, NANTO) if r.key_id == old_id).revoked_at is None
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "pack.key_trusted")).all()) == 3
