"""The byte encoding and hashes of the audit chain (docs/audit.md, "正規のバイト列"): pure functions, no database.

Every event of a municipality links to the one before it: its hash covers every field of the row, the
previous event's hash and a commitment (salted digest) to its personal payload. The encoding is
length-prefixed UTF-8, simple enough for an auditor to re-implement offline from the documentation;
version 1 is frozen (tests/test_audit_chain.py pins a test vector that docs/audit.md also prints).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from typing import NamedTuple

EVENT_TAG = b"jichi-audit-event-v1\n"
PERSONAL_TAG = b"jichi-audit-personal-v1\n"
NULL = b"\xff\xff\xff\xff"
GENESIS = "0" * 64  # prev_hash of a chain's first event
# The deployment's own chain: administrative actions that concern no one municipality (keys, schema,
# registering municipalities). No 全国地方公共団体コード is 000000 (its check digit would be 1).
DEPLOYMENT = "000000"
EMPTY_JSON = "{}"


def field(value: str | None) -> bytes:
    """One field: 4-byte big-endian length of its UTF-8 bytes, then the bytes; NULL is 0xFFFFFFFF."""
    if value is None:
        return NULL
    data = value.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def utc_text(value: dt.datetime | str) -> str:
    """A timestamp as hashed: UTC, microseconds, 'Z' (2026-04-01T00:00:00.000000Z).

    SQLite hands back naive datetimes; everything jichi stores is UTC, so a naive value is UTC. The verifier
    reads SQLite's stored text as it is ('2026-04-01 00:00:00.000000', UTC), which skips parsing a datetime.
    """
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


class EventRow(NamedTuple):
    """An audit_event row joined with its personal payload (None once erased), in column order."""

    municipality_code: str
    seq: int
    prev_hash: str
    hash: str
    occurred_at: dt.datetime | str  # SQLite's stored text when read by the verifier
    actor: str
    action: str
    case_id: str | None
    task_id: str | None
    detail: str
    personal_digest: str | None
    salt: str | None = None
    data_before: str | None = None
    data_after: str | None = None
    personal: str | None = None


def _hash(tag: bytes, values: tuple[str | None, ...]) -> str:
    # field() inlined: verification runs this for every event, and the calls cost more than the hashing.
    parts = [tag]
    append = parts.append
    for value in values:
        if value is None:
            append(NULL)
        else:
            data = value.encode("utf-8")
            append(len(data).to_bytes(4, "big"))
            append(data)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def event_hash(municipality: str, seq: int, prev_hash: str, occurred_at: str, actor: str, action: str,
               case_id: str | None, task_id: str | None, detail: str, personal_digest: str | None) -> str:
    """SHA-256 (hex) of the event's fields in the documented order (each as field()); occurred_at as utc_text()."""
    return _hash(EVENT_TAG, (municipality, str(seq), prev_hash, occurred_at, actor, action, case_id, task_id, detail,
                             personal_digest))


def event_hash_around(municipality: str, occurred_at: str, actor: str, action: str, case_id: str | None,
                      task_id: str | None, detail: str, personal_digest: str | None) -> tuple[bytes, bytes]:
    """The bytes event_hash hashes before and after the two fields only the chain's head knows (seq and prev_hash):
    event_hash(...) == sha256(before + field(str(seq)) + field(prev_hash) + after), for a database that appends an
    event in one statement (engine.store)."""
    return (EVENT_TAG + field(municipality),
            b"".join(field(v) for v in (occurred_at, actor, action, case_id, task_id, detail, personal_digest)))


def row_hash(row: EventRow, seq: int | None = None) -> str:
    """The hash a row should carry (with another seq when testing a hypothesis about a moved row)."""
    return event_hash(row.municipality_code, row.seq if seq is None else seq, row.prev_hash,
                      utc_text(row.occurred_at), row.actor, row.action, row.case_id, row.task_id, row.detail,
                      row.personal_digest)


def personal_digest(salt: str, data_before: str, data_after: str, personal: str) -> str:
    """The commitment to a personal payload: SHA-256 (hex) of tag, salt and the three texts."""
    return _hash(PERSONAL_TAG, (salt, data_before, data_after, personal))


def new_salt() -> str:
    """32 random bytes (hex): erased with the payload, so the digest cannot be brute-forced afterwards."""
    return os.urandom(32).hex()


def has_personal(data_before: str, data_after: str, personal: str) -> bool:
    return not (data_before == EMPTY_JSON and data_after == EMPTY_JSON and personal == EMPTY_JSON)


def chain(rows: Sequence[EventRow]) -> list[EventRow]:
    """Relink rows from the genesis: new seq, prev_hash and hash (tests and the migration of old rows)."""
    linked: list[EventRow] = []
    prev = GENESIS
    for seq, row in enumerate(rows, start=1):
        digest = row.personal_digest
        if row.salt is not None:
            digest = personal_digest(row.salt, row.data_before or EMPTY_JSON, row.data_after or EMPTY_JSON,
                                     row.personal or EMPTY_JSON)
        row = row._replace(seq=seq, prev_hash=prev, personal_digest=digest)
        row = row._replace(hash=row_hash(row))
        linked.append(row)
        prev = row.hash
    return linked
