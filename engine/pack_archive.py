"""Signed pack archives: `jichi pack build` (a vendor) and `jichi pack install` (a municipality).

An archive (`<pack>-<version>.jpack`, a zip) holds the pack's files under `pack/`, a `MANIFEST.json` with the
SHA-256 of every file, the pack's id and version and the signer's key id, and a `SIGNATURE`: the ed25519
signature of the manifest's exact bytes. Installing refuses an archive that is unsigned, signed by a key the
municipalities it serves do not trust (`jichi pack trust`, per municipality), or altered by one byte (a file
whose hash differs, a file missing or added, a manifest that is not the one signed); nothing is written
then. An installed pack replaces the folder under local_rules/ only after it checks clean, and installing
is an audit event (`pack.installed`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, clock
from engine.audit_checkpoint import key_id
from engine.check import check_paths
from engine.models import TrustedPackKey
from engine.packs import load_pack
from standard_core.diagnostics import DiagnosticError, Span, error

FORMAT = 1
_MAX_BYTES = 20 * 1024 * 1024  # a pack is text; a bigger archive is refused before it is read
_SKIPPED = ("__pycache__",)


def _fail(code: str, message: str, hint: str, where: str = "<パック>") -> DiagnosticError:
    return DiagnosticError([error(code, message, Span(where, 1, 1), hint)])


def keygen(path: Path) -> str:
    """A vendor's signing key: PEM private key (owner-only) and PEM public key next to it (`.pub`)."""
    if path.exists():
        raise _fail("PCK641", f"鍵「{path}」はすでにあります", "上書きはしません。別のパスを指定してください。", str(path))
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    public = key.public_key()
    path.with_name(path.name + ".pub").write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_id(public)


def _private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise _fail("PCK641", f"署名鍵「{path}」を ed25519 の秘密鍵として読めません: {e}",
                    "jichi pack keygen で作った鍵を指定してください。", str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _fail("PCK641", f"署名鍵「{path}」は ed25519 の鍵ではありません", "jichi pack keygen で作った鍵を指定してください。",
                    str(path))
    return key


def public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as e:
        raise _fail("PCK641", f"公開鍵「{where}」を PEM として読めません: {e}",
                    "ベンダーが jichi pack keygen で作った .pub ファイルを指定してください。", where) from None
    if not isinstance(key, Ed25519PublicKey):
        raise _fail("PCK641", f"公開鍵「{where}」は ed25519 の鍵ではありません",
                    "ベンダーが jichi pack keygen で作った .pub ファイルを指定してください。", where)
    return key


def _files(directory: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and not any(p.startswith(".") or p in _SKIPPED for p in relative.parts):
            found[relative.as_posix()] = path.read_bytes()
    return found


def _manifest_bytes(manifest: dict[str, object]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def build(directory: Path, key_path: Path, out_dir: Path) -> Path:
    """Sign the pack in `directory` into `out_dir/<id>-<version>.jpack`. The pack.toml must load clean."""
    pack, problems = load_pack(directory)
    if pack is None:
        raise DiagnosticError([d for d in problems if d.is_error])
    _check_changelog(directory, pack.version)
    key = _private_key(key_path)
    files = _files(directory)
    manifest: dict[str, object] = {
        "format": FORMAT, "pack": pack.id, "version": pack.version, "municipalities": list(pack.municipalities),
        "key_id": key_id(key.public_key()),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    body = _manifest_bytes(manifest)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{pack.id}-{pack.version}.jpack"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MANIFEST.json", body)
        archive.writestr("SIGNATURE", key.sign(body).hex())
        for name, data in files.items():
            archive.writestr(f"pack/{name}", data)
    return target


def _check_changelog(directory: Path, version: str) -> None:
    """A release says what changed and why: CHANGELOG.md must have a `## <version>` section (PCK645)."""
    log = directory / "CHANGELOG.md"
    try:
        text = log.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    headings = [line[3:].split()[0] for line in (text or "").splitlines() if line.startswith("## ") and line[3:].strip()]
    if version not in headings:
        raise _fail("PCK645", f"CHANGELOG.md に版 {version} の節がありません" if text is not None
                    else "CHANGELOG.md がありません（UTF-8 で読めるファイルが必要です）",
                    f"「## {version}」の節を作り、変更と根拠（条例・規則の名前と番号、施行日）を書いてから作り直してください"
                    "（docs/packs.md「CHANGELOG.md」）。", str(log))


@dataclass(frozen=True)
class Verified:
    pack: str
    version: str
    municipalities: tuple[str, ...]
    key_id: str
    manifest_sha256: str
    files: dict[str, bytes]


def _read(path: Path) -> dict[str, bytes]:
    shown = str(path)
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise _fail("PCK643", "パックのアーカイブが大きすぎます", "パックは規則と手続きのテキストです。", shown)
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if sum(e.file_size for e in entries) > _MAX_BYTES:
                raise _fail("PCK643", "パックのアーカイブが大きすぎます", "パックは規則と手続きのテキストです。", shown)
            contents = {}
            for entry in entries:
                name = PurePosixPath(entry.filename)
                if entry.is_dir():
                    continue
                if name.is_absolute() or ".." in name.parts or "\\" in entry.filename:
                    raise _fail("PCK643", f"アーカイブに不正なパス「{entry.filename}」があります",
                                "jichi pack build で作ったアーカイブだけを取り込めます。", shown)
                contents[entry.filename] = archive.read(entry)
            return contents
    except (OSError, zipfile.BadZipFile) as e:
        raise _fail("PCK643", f"パックのアーカイブを読めません: {e}", "jichi pack build で作った .jpack を指定してください。",
                    shown) from None


def verify(path: Path, trusted: dict[str, Ed25519PublicKey]) -> Verified:
    """The verified contents of an archive, or the reason it is refused (PCK640 unsigned, PCK641 untrusted
    key, PCK642 altered). `trusted`: key id → public key."""
    return _verify(_read(path), str(path), trusted)


def _verify(contents: dict[str, bytes], shown: str, trusted: dict[str, Ed25519PublicKey]) -> Verified:
    body, signature = contents.get("MANIFEST.json"), contents.get("SIGNATURE")
    if body is None or signature is None:
        raise _fail("PCK640", "署名のないアーカイブは取り込めません（MANIFEST.json か SIGNATURE がない）",
                    "ベンダーに jichi pack build で署名したアーカイブを求めてください。", shown)
    try:
        manifest = json.loads(body)
        kid, files = manifest["key_id"], manifest["files"]
        if not isinstance(files, dict) or manifest.get("format") != FORMAT:
            raise ValueError("format")
    except (ValueError, KeyError, TypeError):
        raise _fail("PCK642", "MANIFEST.json が読めません（改変されたか、形式が違う）",
                    "ベンダーから取り直してください。", shown) from None
    key = trusted.get(kid)
    if key is None:
        raise _fail("PCK641", f"署名した鍵（鍵 ID {str(kid)[:16]}…）は、このパックの団体に信頼されていません",
                    "ベンダーの公開鍵を別の経路で受け取り、確かめてから jichi pack trust で団体ごとに登録してください。",
                    shown)
    try:
        key.verify(bytes.fromhex(signature.decode("ascii").strip()), body)
    except (InvalidSignature, ValueError, UnicodeDecodeError):
        raise _fail("PCK642", "署名が MANIFEST.json と合いません（改変されたアーカイブ）",
                    "取り込みません。ベンダーから取り直してください。", shown) from None
    packed = {name[len("pack/"):]: data for name, data in contents.items() if name.startswith("pack/")}
    extra = sorted(set(packed) - set(files)) + sorted(n for n in contents if n not in ("MANIFEST.json", "SIGNATURE")
                                                      and not n.startswith("pack/"))
    missing = sorted(set(files) - set(packed))
    changed = sorted(n for n in set(files) & set(packed) if hashlib.sha256(packed[n]).hexdigest() != files[n])
    if extra or missing or changed:
        what = "、".join([*(f"変更 {n}" for n in changed), *(f"欠落 {n}" for n in missing),
                         *(f"追加 {n}" for n in extra)][:6])
        raise _fail("PCK642", f"アーカイブの中身が署名した内容と違います（{what}）",
                    "取り込みません。ベンダーから取り直してください。", shown)
    return Verified(str(manifest["pack"]), str(manifest["version"]), tuple(manifest.get("municipalities", [])), kid,
                    hashlib.sha256(body).hexdigest(), packed)


def unpacked(path: Path, target: Path) -> Path:
    """The archive's pack files written under `target`, after checking them against its manifest's hashes.

    For reading a release (`jichi pack diff OLD NEW`), not for installing: who signed it is not checked here
    (`install` does that against the trusted keys), but a file that differs from the manifest is PCK642.
    """
    contents = _read(path)
    try:
        manifest = json.loads(contents["MANIFEST.json"])
        files = manifest["files"]
        if not isinstance(files, dict):
            raise ValueError("files")
    except (KeyError, ValueError, TypeError):
        raise _fail("PCK640", "MANIFEST.json のないアーカイブです", "jichi pack build で作った .jpack を指定してください。",
                    str(path)) from None
    packed = {name[len("pack/"):]: data for name, data in contents.items() if name.startswith("pack/")}
    if set(packed) != set(files) or any(hashlib.sha256(data).hexdigest() != files[name] for name, data in packed.items()):
        raise _fail("PCK642", "アーカイブの中身が MANIFEST.json と違います（改変されたアーカイブ）",
                    "ベンダーから取り直してください。", str(path))
    folder = target / "pack"
    for name, data in packed.items():
        destination = folder / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
    return folder


def trust(session: Session, *, municipality: str, pem: bytes, name: str, actor: str, where: str) -> str:
    """Record that a municipality trusts a vendor's public key for the packs that serve it; audited."""
    key = public_key(pem, where)
    kid = key_id(key)
    existing = session.scalar(select(TrustedPackKey).where(TrustedPackKey.municipality_code == municipality,
                                                          TrustedPackKey.key_id == kid))
    if existing is None:
        session.add(TrustedPackKey(municipality_code=municipality, key_id=kid, name=name,
                                   public_key=pem.decode("ascii"), added_by=actor, added_at=clock.now()))
        audit.admin_event(session, action="pack.key_trusted", actor=actor, municipality=municipality,
                          detail={"key_id": kid, "name": name})
    elif existing.revoked_at is not None:  # trusted again after a revocation: a new, audited decision
        existing.revoked_at, existing.revoked_by = None, None
        existing.added_by, existing.added_at, existing.name = actor, clock.now(), name
        audit.admin_event(session, action="pack.key_trusted", actor=actor, municipality=municipality,
                          detail={"key_id": kid, "name": name, "again": True})
    session.commit()
    return kid


def trusted_key_rows(session: Session, municipality: str | None = None) -> list[TrustedPackKey]:
    """Every key a municipality (or every municipality) trusts or has trusted, oldest first."""
    query = select(TrustedPackKey).order_by(TrustedPackKey.municipality_code, TrustedPackKey.added_at)
    if municipality is not None:
        query = query.where(TrustedPackKey.municipality_code == municipality)
    return list(session.scalars(query))


def distrust(session: Session, *, municipality: str, key: str, actor: str) -> str:
    """Stop trusting a key (its id, or an unambiguous prefix of at least 8 characters): archives it signed are
    refused from now on; packs already installed stay as they are. Audited (pack.key_revoked)."""
    rows = [r for r in trusted_key_rows(session, municipality) if r.revoked_at is None and r.key_id.startswith(key)]
    if len(key) < 8 or len(rows) != 1:
        known = "、".join(f"{r.key_id[:16]}…（{r.name}）" for r in trusted_key_rows(session, municipality)
                         if r.revoked_at is None) or "なし"
        raise _fail("PCK644", f"団体 {municipality} が信頼している鍵に「{key}」で始まるものが"
                    + ("ありません" if not rows else "複数あります"),
                    f"jichi pack keys で鍵 ID を確かめ、8文字以上で指定してください（信頼している鍵: {known}）。", key)
    row = rows[0]
    row.revoked_at, row.revoked_by = clock.now(), actor
    audit.admin_event(session, action="pack.key_revoked", actor=actor, municipality=municipality,
                      detail={"key_id": row.key_id, "name": row.name})
    session.commit()
    return row.key_id


def trusted_keys(session: Session, municipalities: tuple[str, ...]) -> dict[str, Ed25519PublicKey]:
    """The keys every one of the municipalities trusts (a pack is installed for all it serves, or not)."""
    if not municipalities:
        return {}
    rows = list(session.scalars(select(TrustedPackKey).where(TrustedPackKey.municipality_code.in_(municipalities),
                                                             TrustedPackKey.revoked_at.is_(None))))
    shared = set.intersection(*({r.key_id for r in rows if r.municipality_code == m} for m in municipalities))
    return {r.key_id: public_key(r.public_key.encode("ascii"), r.name) for r in rows if r.key_id in shared}


def install(session: Session, path: Path, root: Path, *, actor: str) -> Verified:
    """Verify the archive against the keys its municipalities trust, then put it in local_rules/<pack>/ if the
    repository still checks clean with it; otherwise change nothing. Audited (pack.installed)."""
    contents = _read(path)
    municipalities = _declared_municipalities(contents)
    verified = _verify(contents, str(path), trusted_keys(session, municipalities))
    if verified.municipalities != municipalities:
        raise _fail("PCK642", "MANIFEST.json と pack.toml の団体が違います", "取り込みません。", str(path))
    target = root / "local_rules" / verified.pack
    with tempfile.TemporaryDirectory(dir=root / "local_rules", prefix=".install-") as staging:
        fresh = Path(staging) / verified.pack
        for name, data in verified.files.items():
            (fresh / name).parent.mkdir(parents=True, exist_ok=True)
            (fresh / name).write_bytes(data)
        pack, problems = load_pack(fresh)
        if pack is None or pack.id != verified.pack or pack.version != verified.version:
            raise DiagnosticError([d for d in problems if d.is_error] or [error(
                "PCK642", "pack.toml の id・版が MANIFEST.json と違います", Span(str(path), 1, 1), "取り込みません。")])
        previous = Path(staging) / "previous"
        if target.exists():
            target.rename(previous)
        fresh.rename(target)
        found = [d for d in check_paths([], root) if d.is_error]
        if found:
            shutil.rmtree(target)
            if previous.exists():
                previous.rename(target)
            raise DiagnosticError(found)
    audit.admin_event(session, action="pack.installed", actor=actor, municipality=municipalities[0],
                      detail={"pack": verified.pack, "version": verified.version, "key_id": verified.key_id,
                              "municipalities": list(municipalities), "manifest_sha256": verified.manifest_sha256})
    session.commit()
    return verified


def _declared_municipalities(contents: dict[str, bytes]) -> tuple[str, ...]:
    """The municipalities the archive's MANIFEST.json names (verified against the signature by `_verify`)."""
    try:
        manifest = json.loads(contents.get("MANIFEST.json", b"{}"))
        values = manifest.get("municipalities", [])
        return tuple(str(v) for v in values) if isinstance(values, list) else ()
    except ValueError:
        return ()

