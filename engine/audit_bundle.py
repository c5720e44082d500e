"""Evidence bundles (`jichi audit export`): the events an incident is about, with what proves they are the log.

The events chosen by an auditor's query (engine/audit_search.py) are exported with, for each municipality, every
event from the first chosen one up to a checkpoint signed for the purpose (a chain proves membership only as a
contiguous run; the events not chosen carry no personal data, only the digests the chain commits to). The chosen
events keep their personal payloads (the residents shown, the data before and after) where they were not erased.
A signed SHA256SUMS covers every file, so a changed byte anywhere is a rejection. The bundle carries its own
verifier (engine/audit_bundle_verifier.py as verify.py: standard library and `cryptography`), a README saying
what it proves and what it does not, and the public key (to be compared with the published key ID).

Exporting is itself recorded (audit.exported, in each municipality's chain) with the bundle's SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.orm import Session

from engine import access_log, clock
from engine.audit_chain import utc_text
from engine.audit_checkpoint import (
    AuditError,
    export,
    key_id,
    latest_checkpoints,
    load_private_key,
    public_path,
)
from engine.audit_search import Query, search
from engine.audit_verify import read_rows

FORMAT = "jichi-audit-bundle-v1"
MAX_EVENTS = 100_000  # events one bundle selects
VERIFIER = Path(__file__).with_name("audit_bundle_verifier.py")
FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # zip entry times: the bundle's bytes depend on its content only


@dataclass(frozen=True)
class Exported:
    path: Path
    sha256: str
    selected: int
    included: int  # events in the bundle, chosen or not
    municipalities: list[str]


def export_bundle(session: Session, query: Query, out: Path, *, checkpoint_dir: Path, key_path: Path, actor: str,
                  scope: dict[str, object], address: str = "local", via: str = "cli") -> Exported:
    """Write the bundle of the events `query` selects to `out` (a .zip); raises AuditError when nothing matches or
    the log does not verify (no checkpoint is signed over a broken chain)."""
    result = search(session, replace(query, limit=MAX_EVENTS), cap=MAX_EVENTS)
    if not result.events:
        session.rollback()
        raise AuditError("AUD950", "条件に合うイベントがありません", "条件（団体・期間・人・住民）を確かめてください。")
    if result.truncated:
        session.rollback()
        raise AuditError("AUD951", f"条件に合うイベントが {MAX_EVENTS} 件を超えます",
                         "期間や人で条件を絞って、束を分けてください。")
    chosen: dict[str, set[int]] = {}
    for e in result.events:
        chosen.setdefault(e.municipality, set()).add(e.seq)
    private_key = load_private_key(key_path)
    kid = key_id(private_key.public_key())
    export(session, checkpoint_dir, key_path, actor=actor, only_changed=True)  # a checkpoint at each head; commits
    latest = latest_checkpoints(checkpoint_dir, private_key.public_key())
    files: dict[str, bytes] = {}
    parts = []
    connection = session.connection()
    included = 0
    for code in sorted(chosen):
        checkpoint = latest.get(code)
        if checkpoint is None or checkpoint.seq < max(chosen[code]):
            raise AuditError("AUD952", f"団体 {code} のチェックポイントを用意できません",
                             "jichi audit checkpoint を実行してから、もう一度書き出してください。")
        lines = []
        for row in read_rows(connection, code, after=min(chosen[code]) - 1, upto=checkpoint.seq):
            event: dict[str, object] = {
                "municipality": row.municipality_code, "seq": row.seq, "prev_hash": row.prev_hash, "hash": row.hash,
                "occurred_at": utc_text(row.occurred_at), "actor": row.actor, "action": row.action,
                "case_id": row.case_id, "task_id": row.task_id, "detail": row.detail,
                "personal_digest": row.personal_digest, "selected": row.seq in chosen[code]}
            if row.seq in chosen[code] and row.salt is not None:
                event["payload"] = {"salt": row.salt, "data_before": row.data_before, "data_after": row.data_after,
                                    "personal": row.personal}
            lines.append(json.dumps(event, ensure_ascii=True, sort_keys=True))  # ASCII: one record per line, inert
        included += len(lines)
        files[f"events/{code}.jsonl"] = ("\n".join(lines) + "\n").encode("ascii")
        files[f"checkpoints/{code}.json"] = (checkpoint_dir / code / checkpoint.source).read_bytes()
        parts.append({"municipality": code, "events": f"events/{code}.jsonl", "checkpoint": f"checkpoints/{code}.json",
                      "from_seq": min(chosen[code]), "to_seq": checkpoint.seq, "selected": sorted(chosen[code])})
    session.rollback()
    created = utc_text(clock.now())
    files[f"keys/{kid}.pub"] = public_path(key_path).read_bytes()
    files["manifest.json"] = (json.dumps({
        "format": FORMAT, "created_at": created, "created_by": actor, "scope": scope, "key_id": kid,
        "public_key": f"keys/{kid}.pub", "municipalities": parts}, ensure_ascii=False, indent=2) + "\n").encode()
    files["verify.py"] = VERIFIER.read_bytes()
    files["README.md"] = _readme(created, actor, scope, kid, parts, len(result.events), included).encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())).encode()
    files["SHA256SUMS"] = sums
    files["SHA256SUMS.sig"] = base64.b64encode(private_key.sign(sums)) + b"\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(zipfile.ZipInfo(name, FIXED_TIME), files[name], zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    for code in sorted(chosen):
        access_log.record(session, municipality=code, actor=actor, action="audit.exported", screen="jichi audit export",
                          via=via, address=address, query=json.dumps(scope, ensure_ascii=False, sort_keys=True),
                          extra={"bundle_sha256": digest, "selected": len(chosen[code])})
    session.commit()
    return Exported(out, digest, len(result.events), included, sorted(chosen))


def _readme(created: str, actor: str, scope: dict[str, object], kid: str, parts: list[dict[str, object]],
            selected: int, included: int) -> str:
    ranges = "\n".join(f"- 団体 {p['municipality']}: {p['from_seq']}〜{p['to_seq']} 番（選ばれたイベント "
                       f"{len(p['selected'])} 件）" for p in parts)  # type: ignore[arg-type]
    return f"""# jichi 監査ログの証拠の束

作成 {created}（{actor}）。条件: `{json.dumps(scope, ensure_ascii=False)}`

選ばれたイベント {selected} 件と、それが監査ログの一部であることを示すために、各団体について最初の選ばれたイベントから
署名つきチェックポイントまでの連続したイベント（計 {included} 件）を含みます。

{ranges}

## 検証のしかた

Python 3.10 以上と cryptography パッケージだけで、jichi なしに検証できます。

```
python3 verify.py この束.zip --public-key 団体が公表した公開鍵.pub
```

`--public-key` を省くと束の中の鍵（ID `{kid}`）で確かめます。その場合は、鍵 ID が団体の公表したものと同じか確かめて
ください。1 バイトでも変えた束は不合格になります（署名された SHA256SUMS がすべてのファイルを覆います）。

## 含まれるもの

- `events/<団体>.jsonl`: イベント（1 行 1 件、ASCII の JSON）。`selected` が真のものが条件で選ばれたイベントで、
  消去されていなければ個人データ（`payload`: 表示した住民の宛名番号・検索語、変更前後のデータ）を含みます。
  選ばれていないイベントは個人データを含まず、チェーンが含むダイジェストだけです。
- `checkpoints/<団体>.json`: 署名つきチェックポイント（件数と先頭のハッシュ）。
- `keys/<鍵 ID>.pub`: 署名の公開鍵。`manifest.json`: 条件と範囲。`SHA256SUMS`・`SHA256SUMS.sig`: ファイルの一覧と署名。
- `verify.py`: 検証のスクリプト（docs/audit.md「正規のバイト列」の再実装）。

## 証明できること・できないこと

できること: 範囲のイベントが、チェックポイントに署名した時点の監査ログそのもの（順序・内容とも）であること、
個人データがイベントのダイジェストと一致すること。
できないこと: チェックポイントより後や範囲より前のイベント、記録されなかった操作、条件が漏れなくイベントを選んだこと、
鍵が団体のものであること（鍵 ID を別の経路で確かめてください）。
"""
