"""Signing keys and signed checkpoints of the audit chains, exported to files outside the database.

A checkpoint says "municipality M's chain had N events and ended in hash H at time T", signed with the
deployment's ed25519 key. Kept outside the database (another server, WORM storage, the auditor's mail), it
lets `jichi audit verify` detect what the chain alone cannot: events cut off after it (truncation) and a
chain rewritten with fresh hashes (a fork). Before signing, the chain is verified from the previous
checkpoint in the same folder, so that a checkpoint never vouches for a chain that is already broken.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, clock
from engine.audit_chain import DEPLOYMENT, utc_text
from engine.audit_verify import ChainState, Checkpoint, Finding, heads, read_rows, verify_rows
from engine.paths import project_root
from engine.store import EVENTS
from standard_core.diagnostics import DiagnosticError, Span, error

FORMAT = "jichi-audit-checkpoint-v1"
KEY_ENV = "JICHI_AUDIT_KEY"
CHECKPOINT_DIR_ENV = "JICHI_AUDIT_CHECKPOINT_DIR"
EXPORT_ACTION = "audit.checkpoint_exported"


class AuditError(DiagnosticError):
    """A refused audit command (AUD92x keys, AUD93x erasure) or a chain that may not be signed."""

    def __init__(self, code: str, message: str, hint: str, where: str = "<監査>",
                 findings: Sequence[Finding] = ()) -> None:
        super().__init__([error(code, message, Span(where, 1, 1), hint)])
        self.findings = list(findings)

    @property
    def code(self) -> str:
        return self.diagnostics[0].code


def default_key_path() -> Path:
    """JICHI_AUDIT_KEY, else var/audit/signing.key under the project root."""
    configured = os.environ.get(KEY_ENV)
    return Path(configured) if configured else project_root() / "var" / "audit" / "signing.key"


def default_checkpoint_dir() -> Path:
    configured = os.environ.get(CHECKPOINT_DIR_ENV)
    return Path(configured) if configured else project_root() / "var" / "audit" / "checkpoints"


def public_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def key_id(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key."""
    return hashlib.sha256(public_key.public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)).hexdigest()


# --- keys -----------------------------------------------------------------------------------------------
def keygen(session: Session, key_path: Path, *, actor: str) -> str:
    """Create the signing key (private 0600, public `.pub` beside it) and record it; returns its key id.

    The event `audit.key_created` (deployment chain) carries the public key; the caller's transaction
    commits here, after both files are written, and the files are removed if the commit fails.
    """
    public = public_path(key_path)
    for path in (key_path, public):
        if path.exists():
            raise AuditError("AUD920", f"鍵ファイル「{path}」はすでにあります", (
                "既存の鍵は上書きしません。鍵を替えるときは別の --key を指定し、古い公開鍵は過去のチェックポイントの"
                "検証のために保管してください。"), str(path))
    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    kid = key_id(public_key)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    audit.admin_event(session, action="audit.key_created", actor=actor,
                      detail={"key_id": kid, "public_key": base64.b64encode(raw).decode("ascii"),
                              "algorithm": "ed25519"})
    key_path.parent.mkdir(parents=True, exist_ok=True)
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    try:
        # O_EXCL: never follow a file someone placed there in between; 0600 from the first byte.
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as f:
            f.write(pem)
        public.write_bytes(public_key.public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
        session.commit()
    except BaseException:
        session.rollback()
        for path in (key_path, public):
            path.unlink(missing_ok=True)
        raise
    return kid


def load_private_key(key_path: Path) -> Ed25519PrivateKey:
    """The signing key; refused when missing, unreadable, not ed25519 or readable by group/others."""
    try:
        mode = key_path.stat().st_mode
        data = key_path.read_bytes()
    except OSError as e:
        raise AuditError("AUD921", f"署名鍵「{key_path}」を読めません: {e.strerror or e}", (
            "jichi audit keygen で鍵を作るか、--key または環境変数 JICHI_AUDIT_KEY で鍵の場所を指定してください。"),
            str(key_path)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditError("AUD922", f"署名鍵「{key_path}」を所有者以外も読めます（権限 {stat.S_IMODE(mode):o}）", (
            f"chmod 600 {key_path} で所有者だけが読めるようにしてください。漏れた疑いがあれば鍵を作り直してください。"),
            str(key_path))
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise AuditError("AUD921", f"署名鍵「{key_path}」は ed25519 の秘密鍵（PEM）として読めません: {e}",
                         "jichi audit keygen で作った鍵を指定してください。", str(key_path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditError("AUD921", f"署名鍵「{key_path}」は ed25519 の鍵ではありません",
                         "jichi audit keygen で作った鍵を指定してください。", str(key_path))
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as e:
        raise AuditError("AUD921", f"公開鍵「{path}」を読めません: {e.strerror or e}", (
            "チェックポイントを検証するには、署名した鍵の公開鍵（jichi audit keygen が作る .pub）を --public-key で"
            "指定してください。"), str(path)) from None
    except ValueError as e:
        raise AuditError("AUD921", f"公開鍵「{path}」は PEM の公開鍵として読めません: {e}",
                         "jichi audit keygen が作った .pub ファイルを指定してください。", str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError("AUD921", f"公開鍵「{path}」は ed25519 の鍵ではありません",
                         "jichi audit keygen が作った .pub ファイルを指定してください。", str(path))
    return key


# --- checkpoint files -----------------------------------------------------------------------------------
def signed_text(municipality: str, seq: int, head_hash: str, created_at: str, kid: str) -> bytes:
    """The exact bytes that are signed: six lines, each ending in LF (docs/audit.md)."""
    return f"{FORMAT}\n{municipality}\n{seq}\n{head_hash}\n{created_at}\n{kid}\n".encode()


@dataclass(frozen=True)
class Written:
    municipality: str
    seq: int
    head_hash: str
    path: Path


def _file_name(municipality: str, seq: int, created_at: str) -> str:
    stamp = created_at.replace("-", "").replace(":", "").split(".")[0]  # 20260401T000000
    return f"{municipality}-{seq:012d}-{stamp}Z.json"


def read_checkpoints(paths: Iterable[Path], public_keys: Sequence[Ed25519PublicKey]) -> tuple[
        list[Checkpoint], list[Finding]]:
    """Checkpoints from files (or folders, searched for *.json), each signature checked against the keys."""
    keys = {key_id(k): k for k in public_keys}
    found: list[Checkpoint] = []
    problems: list[Finding] = []
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format が {FORMAT} ではありません")
            cp = Checkpoint(str(data["municipality"]), int(data["seq"]), str(data["head_hash"]),
                            str(data["created_at"]), str(data["key_id"]), str(data["signature"]), path.name)
            signature = base64.b64decode(cp.signature, validate=True)
        except (OSError, ValueError, KeyError, TypeError, binascii.Error) as e:
            problems.append(Finding("AUD913", "-", None, f"チェックポイント「{path}」を読めません: {e}",
                                    "jichi audit checkpoint が書き出したファイル（JSON）を指定してください。"))
            continue
        key = keys.get(cp.key_id)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(signature, signed_text(cp.municipality, cp.seq, cp.head_hash, cp.created_at, cp.key_id))
        except InvalidSignature:
            why = "署名が正しくありません" if key is not None else f"署名した鍵（{cp.key_id[:16]}…）の公開鍵が指定されていません"
            problems.append(Finding("AUD912", cp.municipality, cp.seq, f"チェックポイント「{path.name}」を信頼できません: {why}", (
                "正しい公開鍵を --public-key で指定してください。それでも合わなければ、ファイルが書き換えられたか、"
                "別の鍵で偽造されています。")))
            continue
        found.append(cp)
    return found, problems


def latest_checkpoints(folder: Path, public_key: Ed25519PublicKey) -> dict[str, Checkpoint]:
    """The newest valid checkpoint per municipality in a folder written by `export`.

    File names sort by seq (<code>/<code>-<seq, 12 digits>-<time>.json), so only the last valid one of each
    municipality is read; files that do not verify are passed over.
    """
    latest: dict[str, Checkpoint] = {}
    if not folder.is_dir():
        return latest
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(sub.glob(f"{sub.name}-*.json"), reverse=True):
            checkpoints, _ = read_checkpoints([path], [public_key])
            if checkpoints and checkpoints[0].municipality == sub.name:
                latest[sub.name] = checkpoints[0]
                break
    return latest


def export(session: Session, folder: Path, key_path: Path, *, actor: str, only_changed: bool = False) -> list[Written]:
    """Sign and write one checkpoint per municipality chain, after verifying it since the last one.

    With only_changed (the scheduled worker), chains whose head has not moved since their newest checkpoint in
    the folder are skipped, and so is a deployment chain whose only news is the previous export's own event.
    One `audit.checkpoint_exported` event records what was written; the caller's transaction commits here.
    """
    private_key = load_private_key(key_path)
    public_key = private_key.public_key()
    kid = key_id(public_key)
    previous = latest_checkpoints(folder, public_key)
    connection = session.connection()
    current = {code: head for code, head in heads(connection).items() if head[0] > 0}
    changed = [code for code, (seq, _) in sorted(current.items())
               if not only_changed or code not in previous or previous[code].seq != seq]
    if only_changed and changed == [DEPLOYMENT] and _last_action(session, DEPLOYMENT) == EXPORT_ACTION:
        changed = []
    if not changed:
        session.rollback()
        return []
    problems: list[Finding] = []
    for code in changed:
        seq, head_hash = current[code]
        cp = previous.get(code)
        start = ChainState(cp.seq + 1, cp.head_hash) if cp is not None and cp.seq <= seq else ChainState()
        verifier = verify_rows(code, read_rows(connection, code, after=start.next_seq - 1, upto=seq),
                               [cp] if cp is not None and cp.seq > seq else [], start)
        problems.extend(verifier.finish((seq, head_hash)))
    if problems:
        session.rollback()
        raise AuditError("AUD914", "監査ログに問題があるため、チェックポイントに署名しませんでした", (
            "jichi audit verify で全体を検証し、原因を調査してください。"), findings=problems)
    created_at = utc_text(clock.now())
    written = []
    for code in changed:
        seq, head_hash = current[code]
        signature = private_key.sign(signed_text(code, seq, head_hash, created_at, kid))
        target = folder / code / _file_name(code, seq, created_at)
        target.parent.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT, "municipality": code, "seq": seq, "head_hash": head_hash, "created_at": created_at,
                "key_id": kid, "signature": base64.b64encode(signature).decode("ascii")}
        target.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(Written(code, seq, head_hash, target))
    audit.admin_event(session, action=EXPORT_ACTION, actor=actor, detail={
        "key_id": kid, "checkpoints": [{"municipality": w.municipality, "seq": w.seq, "head_hash": w.head_hash}
                                       for w in written]})
    session.commit()
    return written


def _last_action(session: Session, code: str) -> str | None:
    return session.scalar(select(EVENTS.c.action).where(EVENTS.c.municipality_code == code)
                          .order_by(EVENTS.c.seq.desc()).limit(1))
