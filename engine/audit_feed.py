"""The audit log as a feed for a municipality's security monitoring (SIEM): `jichi audit feed`.

Events are read in each municipality's chain order after a position (the last seq delivered, per municipality), so
a consumer resumes exactly where it stopped: the feed keeps its positions in a small state file written only after
the lines were delivered (at-least-once: after a crash, the last batch may come again; `municipality` + `seq` is
the key to drop a duplicate). Two formats:

- JSON lines: one event per line, ASCII JSON (every non-ASCII and control character escaped, so CR/LF, U+2028 and
  bidi overrides in a value can neither split a record nor reorder what a terminal shows);
- syslog (RFC 5424): `<110>1 time host jichi - action [jichi@32473 …] json` — facility 13 (log audit), severity 6;
  the structured data carries municipality, seq, actor, case and address, escaped as RFC 5424 §6.3.3 asks.

Personal data is never in the feed: only the chained, non-personal fields (detail holds none by design).
"""

from __future__ import annotations

import json
import socket
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from engine.audit_chain import utc_text
from engine.store import EVENTS

FACILITY_LOG_AUDIT = 13
SEVERITY_INFO = 6
ENTERPRISE = "jichi@32473"  # 32473: the example private enterprise number RFC 5612 reserves for documentation
BATCH = 1000


def read_after(connection: Connection, positions: Mapping[str, int], municipalities: Sequence[str],
               limit: int = BATCH) -> Iterator[dict[str, object]]:
    """Up to `limit` events per municipality after its position, in seq order, as plain values."""
    for code in municipalities:
        rows = connection.execute(
            select(EVENTS.c.municipality_code, EVENTS.c.seq, EVENTS.c.hash, EVENTS.c.prev_hash, EVENTS.c.occurred_at,
                   EVENTS.c.actor, EVENTS.c.action, EVENTS.c.case_id, EVENTS.c.task_id, EVENTS.c.detail)
            .where(EVENTS.c.municipality_code == code, EVENTS.c.seq > positions.get(code, 0))
            .order_by(EVENTS.c.seq).limit(limit))
        for r in rows:
            yield {"municipality": r.municipality_code, "seq": int(r.seq), "hash": r.hash, "prev_hash": r.prev_hash,
                   "occurred_at": utc_text(r.occurred_at), "actor": r.actor, "action": r.action,
                   "case_id": r.case_id, "task_id": r.task_id, "detail": json.loads(r.detail)}


def jsonl(event: Mapping[str, object]) -> str:
    return json.dumps(event, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def _sd_value(value: object) -> str:
    """An SD-PARAM value: '"', '\\' and ']' escaped (RFC 5424 §6.3.3), control and format characters as \\uXXXX."""
    text = "" if value is None else str(value)
    text = "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} else c for c in text)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog(event: Mapping[str, object], hostname: str | None = None) -> str:
    given = event.get("detail")
    detail: dict[str, object] = given if isinstance(given, dict) else {}
    params = {"municipality": event["municipality"], "seq": event["seq"], "actor": event["actor"],
              "case": event.get("case_id") or "", "address": detail.get("address", "")}
    data = " ".join(f'{name}="{_sd_value(value)}"' for name, value in params.items())
    host = (hostname or socket.gethostname() or "-")[:255].replace(" ", "_")
    action = str(event["action"])[:32] or "-"
    pri = FACILITY_LOG_AUDIT * 8 + SEVERITY_INFO
    message = json.dumps({"hash": event["hash"], "detail": detail, "task_id": event.get("task_id")},
                         ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return f"<{pri}>1 {event['occurred_at']} {host} jichi - {action} [{ENTERPRISE} {data}] {message}"


def load_positions(path: Path | None) -> dict[str, int]:
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(code): int(seq) for code, seq in data.get("positions", {}).items()}


def save_positions(path: Path, positions: Mapping[str, int]) -> None:
    """Written to a temporary file and renamed: a crash leaves the old positions or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"format": "jichi-audit-feed-v1", "positions": dict(sorted(positions.items()))},
                                    indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def octet_counted(line: str) -> bytes:
    """A syslog message framed for TCP by octet counting (RFC 6587 §3.4.1)."""
    data = line.encode("utf-8")
    return f"{len(data)} ".encode("ascii") + data
