#!/usr/bin/env python3
"""Verify a jichi evidence bundle offline: Python 3.10+ standard library and `cryptography` only.

This file is standalone on purpose: `jichi audit export` copies it into every bundle as verify.py, and it imports
nothing of jichi (tests/test_audit_bundle.py runs it in an isolated interpreter).

    python3 verify.py BUNDLE.zip [--public-key KEY.pub ...]

The bundle (jichi audit export) holds, per municipality, a contiguous run of its audit chain ending at a signed
checkpoint, the selected events with their personal payloads, and a signed list of the SHA-256 of every file.
This script re-implements the published encoding (docs/audit.md「正規のバイト列」) and checks:

1. the list of files (SHA256SUMS) is signed by the key of the bundle, and every file matches it: one changed
   byte anywhere in the bundle is a rejection;
2. each checkpoint's ed25519 signature;
3. each event's hash, recomputed from its fields, and each event's link to the previous one, up to the checkpoint's
   head hash: the events are exactly those of the log at the checkpoint;
4. each included personal payload against the digest its event carries.

It prints what that proves and what it does not. Exit 0: accepted; 1: rejected; 2: not a bundle / bad usage.
The key in the bundle is only as trustworthy as its ID: compare it with the one the municipality published, or
pass that key with --public-key (then any other key is a rejection).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import sys
import zipfile
from pathlib import PurePosixPath
from typing import Any

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover - told to the user
    print("この検証には Python の cryptography パッケージが必要です（pip install cryptography）。", file=sys.stderr)
    sys.exit(2)

BUNDLE_FORMAT = "jichi-audit-bundle-v1"
CHECKPOINT_FORMAT = "jichi-audit-checkpoint-v1"
EVENT_TAG = b"jichi-audit-event-v1\n"
PERSONAL_TAG = b"jichi-audit-personal-v1\n"
NULL = b"\xff\xff\xff\xff"
SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"


class Rejected(Exception):
    pass


def field_bytes(values: tuple[str | None, ...]) -> bytes:
    out: list[bytes] = []
    for value in values:
        if value is None:
            out.append(NULL)
        else:
            data = value.encode("utf-8")
            out.append(len(data).to_bytes(4, "big") + data)
    return b"".join(out)


def event_hash(e: dict[str, Any]) -> str:
    return hashlib.sha256(EVENT_TAG + field_bytes((
        e["municipality"], str(e["seq"]), e["prev_hash"], e["occurred_at"], e["actor"], e["action"], e["case_id"],
        e["task_id"], e["detail"], e["personal_digest"]))).hexdigest()


def personal_digest(p: dict[str, Any]) -> str:
    return hashlib.sha256(PERSONAL_TAG + field_bytes((p["salt"], p["data_before"], p["data_after"],
                                                      p["personal"]))).hexdigest()


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def read_bundle(path: str) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            files: dict[str, bytes] = {}
            for name in names:
                parts = PurePosixPath(name).parts
                if PurePosixPath(name).is_absolute() or ".." in parts or len(parts) > 4:
                    raise Rejected(f"ファイル名「{name}」は束の中のものではありません")
                files[name] = archive.read(name)
            return files
    except (OSError, zipfile.BadZipFile) as e:
        raise Rejected(f"束（zip）を読めません: {e}") from None


def check_files(files: dict[str, bytes], pinned: set[str]) -> tuple[dict[str, Any], Ed25519PublicKey, str]:
    """The signed list of files: returns the key the bundle was signed with."""
    for name in (SUMS, SIGNATURE, "manifest.json"):
        if name not in files:
            raise Rejected(f"束に {name} がありません")
    manifest = json.loads(files["manifest.json"])
    if manifest.get("format") != BUNDLE_FORMAT:
        raise Rejected(f"形式が {BUNDLE_FORMAT} ではありません")
    pem = files.get(manifest.get("public_key", ""))
    if pem is None:
        raise Rejected("束に署名の公開鍵がありません")
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise Rejected("公開鍵が ed25519 ではありません")
    kid = key_id(key)
    if pinned and kid not in pinned:
        raise Rejected(f"束は指定された公開鍵で署名されていません（束の鍵 ID {kid}）")
    try:
        key.verify(base64.b64decode(files[SIGNATURE].strip(), validate=True), files[SUMS])
    except (InvalidSignature, binascii.Error, ValueError):
        raise Rejected("ファイルの一覧（SHA256SUMS）の署名が正しくありません") from None
    listed: dict[str, str] = {}
    for line in files[SUMS].decode("utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    expected = set(files) - {SUMS, SIGNATURE}
    if set(listed) != expected:
        extra = sorted(expected - set(listed)) or sorted(set(listed) - expected)
        raise Rejected(f"署名された一覧と束のファイルが違います: {', '.join(extra)}")
    for name, digest in listed.items():
        if hashlib.sha256(files[name]).hexdigest() != digest:
            raise Rejected(f"ファイル「{name}」が署名のあとで変えられています")
    return manifest, key, kid


def check_chain(files: dict[str, bytes], manifest: dict[str, Any], key: Ed25519PublicKey, kid: str) -> list[str]:
    """Each municipality's run of events against its checkpoint; returns lines of what was proven."""
    proven: list[str] = []
    for part in manifest["municipalities"]:
        code = part["municipality"]
        checkpoint = json.loads(files[part["checkpoint"]])
        if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("municipality") != code:
            raise Rejected(f"団体 {code} のチェックポイントの形式が正しくありません")
        if checkpoint["key_id"] != kid:
            raise Rejected(f"団体 {code} のチェックポイントは束と別の鍵で署名されています")
        body = (f"{CHECKPOINT_FORMAT}\n{code}\n{checkpoint['seq']}\n{checkpoint['head_hash']}\n"
                f"{checkpoint['created_at']}\n{checkpoint['key_id']}\n").encode()
        try:
            key.verify(base64.b64decode(checkpoint["signature"], validate=True), body)
        except (InvalidSignature, binascii.Error, ValueError):
            raise Rejected(f"団体 {code} のチェックポイントの署名が正しくありません") from None
        events = [json.loads(line) for line in io.TextIOWrapper(io.BytesIO(files[part["events"]]), "utf-8")
                  if line.strip()]
        if not events:
            raise Rejected(f"団体 {code} のイベントがありません")
        expected_seq = events[0]["seq"]
        previous = events[0]["prev_hash"]
        selected = payloads = erased = 0
        for e in events:
            if e["municipality"] != code or e["seq"] != expected_seq:
                raise Rejected(f"団体 {code} のイベントの番号が連続していません（{expected_seq} のはずが {e['seq']}）")
            if e["prev_hash"] != previous:
                raise Rejected(f"団体 {code} の {e['seq']} 番が前のイベントとつながっていません")
            if event_hash(e) != e["hash"]:
                raise Rejected(f"団体 {code} の {e['seq']} 番のハッシュが内容と一致しません（内容が変えられています）")
            if e.get("selected"):
                selected += 1
                payload = e.get("payload")
                if payload is not None:
                    if e["personal_digest"] is None or personal_digest(payload) != e["personal_digest"]:
                        raise Rejected(f"団体 {code} の {e['seq']} 番の個人データがダイジェストと一致しません")
                    payloads += 1
                elif e["personal_digest"] is not None:
                    erased += 1
            previous = e["hash"]
            expected_seq += 1
        if events[-1]["seq"] != checkpoint["seq"] or previous != checkpoint["head_hash"]:
            raise Rejected(f"団体 {code} のイベントが署名つきチェックポイント（{checkpoint['seq']} 件）に届いていません")
        proven.append(
            f"団体 {code}: {events[0]['seq']}〜{checkpoint['seq']} 番の {len(events)} 件は、{checkpoint['created_at']} に署名された"
            f"チェックポイントの監査ログそのものです（選ばれたイベント {selected} 件、個人データを確かめたもの {payloads} 件"
            + (f"、保存年限後に消去済みのもの {erased} 件" if erased else "") + "）。")
    return proven


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="jichi の証拠の束（jichi audit export）をオフラインで検証します。")
    parser.add_argument("bundle")
    parser.add_argument("--public-key", action="append", default=[], help="信頼する公開鍵（PEM）。複数可。")
    args = parser.parse_args(argv)
    pinned: set[str] = set()
    for path in args.public_key:
        try:
            with open(path, "rb") as f:
                key = serialization.load_pem_public_key(f.read())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("ed25519 の公開鍵ではありません")
            pinned.add(key_id(key))
        except (OSError, ValueError) as e:
            print(f"公開鍵「{path}」を読めません: {e}", file=sys.stderr)
            return 2
    try:
        files = read_bundle(args.bundle)
        manifest, key, kid = check_files(files, pinned)
        proven = check_chain(files, manifest, key, kid)
    except Rejected as e:
        print(f"不合格: {e}")
        return 1
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        print(f"不合格: 束の内容が形式に合いません（{type(e).__name__}: {e}）")
        return 1
    print("合格: この束は改ざんされていません。")
    print(f"署名した鍵の ID: {kid}" + ("（指定された公開鍵）" if pinned else
                                    "（束に入っていた鍵です。団体が公表した鍵 ID と同じか確かめてください）"))
    print(f"束の作成: {manifest.get('created_at')}（{manifest.get('created_by')}）、条件: "
          f"{json.dumps(manifest.get('scope'), ensure_ascii=False)}")
    for line in proven:
        print("証明できること: " + line)
    print("証明できないこと: チェックポイントより後のイベント、束の範囲より前のイベント、記録されなかった操作、"
          "検索の条件が漏れなくイベントを選んだこと（選んだのは束を作った人です）、鍵が団体のものであること（鍵 ID を別の経路で確かめる）。")
    return 0


if __name__ == "__main__":
    sys.exit(main())
