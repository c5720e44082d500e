"""Verification of the audit chains: recompute every hash, find the first event that does not belong.

`ChainVerifier` is the whole algorithm for one municipality, fed rows in seq order (from the database,
from a copy, or from memory in the tamper tests); `verify` runs it over a database. It stops at the first
finding and names its position (seq), telling apart, where the rows allow it, an altered event, a deleted
one, an inserted one and a rewritten one. Signed checkpoints (engine/audit_checkpoint.py) add what a chain
alone cannot show: that events after a checkpoint were cut off (truncation), or that the chain up to it was
rewritten with fresh hashes (a fork).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, func, select, type_coerce

from engine.audit_chain import DEPLOYMENT, GENESIS, EventRow, personal_digest, row_hash
from engine.store import EVENTS, HEADS, PERSONAL

ERASE_ACTION = "case.erased"
READS_ERASE_ACTION = "reads.erased"  # the payloads of old read-access events (engine/audit_erase.py)
ERASE_ACTIONS = frozenset({ERASE_ACTION, READS_ERASE_ACTION})
MAX_SET_ASIDE = 1000  # rows whose seq is behind the walk (duplicates); more means the order is lost


@dataclass(frozen=True)
class Finding:
    """One problem: a stable code (AUD9xx), where (municipality, seq) and a Japanese message with a hint."""

    code: str
    municipality: str
    seq: int | None
    message: str
    hint: str

    def format(self) -> str:
        where = f"{self.municipality}:{self.seq}" if self.seq is not None else self.municipality
        return f"監査ログ {where}: {self.code} {self.message}\n    ヒント: {self.hint}"

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "municipality": self.municipality, "seq": self.seq, "message": self.message,
                "hint": self.hint}


@dataclass(frozen=True)
class Checkpoint:
    """A signed (municipality, seq, head hash) read from a file; `source` names the file for messages."""

    municipality: str
    seq: int
    head_hash: str
    created_at: str
    key_id: str
    signature: str
    source: str


@dataclass
class ChainState:
    """What a verifier knows after a verified prefix: the next seq and the last two hashes."""

    next_seq: int = 1
    prev_hash: str = GENESIS
    prev_prev_hash: str | None = None


REWRITTEN_HINT = ("データベースに直接書き込める者による改ざんの疑いがあります。データベースのバックアップ、"
                  "外部に保管したチェックポイント、アクセスログと突き合わせて調査してください。")


@dataclass
class ChainVerifier:
    """Verifies one municipality's chain, row by row in seq order; stops at the first finding."""

    municipality: str
    checkpoints: Iterable[Checkpoint] = ()
    state: ChainState = field(default_factory=ChainState)
    events: int = 0
    finding: Finding | None = None
    payload_missing: list[int] = field(default_factory=list)
    erased: set[int] = field(default_factory=set)
    set_aside: list[EventRow] = field(default_factory=list)
    matched: list[Checkpoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._broken: int | None = None  # seq whose link to the previous event is broken, pending one row
        self._at: dict[int, list[Checkpoint]] = {}
        for cp in self.checkpoints:
            self._at.setdefault(cp.seq, []).append(cp)

    def _stop(self, code: str, seq: int | None, message: str, hint: str = REWRITTEN_HINT) -> bool:
        self.finding = Finding(code, self.municipality, seq, message, hint)
        return False

    def feed(self, row: EventRow) -> bool:
        """Check the next row; False once a finding stops the walk (then `finding` says why)."""
        if self.finding is not None:
            return False
        s = self.state
        e = s.next_seq
        if self._broken is not None:  # the row after a broken link says which side was rewritten
            intact = row.seq == e and row.prev_hash == s.prev_hash and row_hash(row) == row.hash
            return self._rewritten(self._broken - 1 if intact else self._broken)
        if row.seq != e:
            return self._out_of_place(row, e)
        if row_hash(row) != row.hash:
            return self._not_its_hash(row, e)
        if row.prev_hash != s.prev_hash:
            if e == 1:
                return self._stop("AUD901", 1, "先頭のイベント 1 番が、チェーンの始まり（ゼロのハッシュ）につながっていません")
            # Each row is consistent with its own hash, but the link between e-1 and e is broken: one of the two
            # was rewritten together with its hash. If the next row links to this one, it was e-1; else e.
            self._broken = e
        if (row.personal_digest is not None or row.salt is not None) and not self._payload(row, e):
            return False
        if row.action in ERASE_ACTIONS:
            self.erased.update(_erased_seqs(row.detail))
        for cp in self._at.get(e, ()):
            if cp.head_hash != row.hash:
                since = max((m.seq for m in self.matched), default=0)
                return self._stop("AUD911", e, (
                    f"チェックポイント {cp.source}（{cp.created_at}）と分岐しています: {e} 番の時点のハッシュが"
                    f"チェックポイントでは {cp.head_hash[:16]}…、データベースでは {row.hash[:16]}… です。"
                    f"{since + 1} 番から {e} 番までのどこかが、ハッシュごと書き換えられています"),
                    "チェックポイントを作った後に、イベントが書き換えられハッシュが計算し直されています。" + REWRITTEN_HINT)
            self.matched.append(cp)
        self.events += 1
        s.next_seq, s.prev_prev_hash, s.prev_hash = e + 1, s.prev_hash, row.hash
        return True

    def _rewritten(self, seq: int) -> bool:
        return self._stop("AUD904", seq, f"イベント {seq} 番がハッシュごと書き換えられています（前後のイベントとの"
                          "ハッシュのつながりが切れています）")

    def _out_of_place(self, row: EventRow, e: int) -> bool:
        if row.seq < e:  # a second row with a seq already passed: set aside until we know whose it is
            self.set_aside.append(row)
            if len(self.set_aside) > MAX_SET_ASIDE:
                return self._stop("AUD903", self.set_aside[0].seq, "番号の重複したイベントが多数あります（挿入）")
            return True
        moved = next((r for r in self.set_aside if r.prev_hash == self.state.prev_hash and row_hash(r, e) == r.hash),
                     None)
        if moved is not None:
            return self._stop("AUD901", e, f"イベント {e} 番の番号が {moved.seq} 番に書き換えられています（順序の改ざん）")
        if e == 1:
            return self._stop("AUD902", 1, f"イベント 1 番から {row.seq - 1} 番がありません（削除）")
        return self._stop("AUD902", e, f"イベント {e} 番がありません（削除）")

    def _not_its_hash(self, row: EventRow, e: int) -> bool:
        s = self.state
        if e >= 2 and row.prev_hash == s.prev_prev_hash and row_hash(row, e - 1) == row.hash:
            return self._stop("AUD903", e - 1, f"イベント {e - 1} 番は後から挿入されたものです（元の {e - 1} 番以降の"
                              "番号が一つずつ後ろにずらされています）")
        if row_hash(row, e + 1) == row.hash:
            return self._stop("AUD902", e, f"イベント {e} 番が削除され、後のイベントの番号が詰められています")
        return self._stop("AUD901", e, f"イベント {e} 番の内容がハッシュと一致しません（項目の変更、順序の入替え、"
                          "または別のイベントへの置き換え）")

    def _payload(self, row: EventRow, e: int) -> bool:
        if row.salt is None:
            self.payload_missing.append(e)
            return True
        if row.personal_digest is None or row.personal_digest != personal_digest(
                row.salt, row.data_before or "", row.data_after or "", row.personal or ""):
            return self._stop("AUD906", e, f"イベント {e} 番の個人データ（audit_personal）が、イベントに記録された"
                              "ダイジェストと一致しません（変更）")
        return True

    def finish(self, head: tuple[int, str] | None) -> list[Finding]:
        """The findings of the walk, first position first; `head` is the audit_head row (seq, hash)."""
        last = self.state.next_seq - 1
        if self._broken is not None and self.finding is None:
            self._rewritten(self._broken - 1 if head is not None and head[1] == self.state.prev_hash else self._broken)
        found = [self.finding] if self.finding is not None else []
        if self.finding is None:
            found.extend(self._end(head, last))
        limit = found[0].seq if found and found[0].seq is not None else last + 1
        unexplained = [s for s in self.payload_missing if s not in self.erased and s < limit]
        if unexplained:
            found.append(Finding("AUD907", self.municipality, unexplained[0], (
                f"イベント {unexplained[0]} 番の個人データが、消去の記録（{ERASE_ACTION}）なしに削除されています"
                + (f"（ほか {len(unexplained) - 1} 件）" if len(unexplained) > 1 else "")), REWRITTEN_HINT))
        return sorted(found, key=lambda f: f.seq if f.seq is not None else 0)

    def _end(self, head: tuple[int, str] | None, last: int) -> list[Finding]:
        found: list[Finding] = []
        if self.set_aside:
            r = self.set_aside[0]
            found.append(Finding("AUD903", self.municipality, r.seq, f"イベント {r.seq} 番が二つあります（挿入）",
                                 REWRITTEN_HINT))
        if head is None and last > 0:
            found.append(Finding("AUD905", self.municipality, None, "チェーンの先頭（audit_head の行）がありません",
                                 REWRITTEN_HINT))
        elif head is not None:
            seq, head_hash = head
            if seq > last:
                found.append(Finding("AUD902", self.municipality, last + 1, (
                    f"末尾のイベント {last + 1} 番から {seq} 番がありません（削除。先頭の記録では {seq} 件）"),
                    REWRITTEN_HINT))
            elif seq < last:
                found.append(Finding("AUD903", self.municipality, seq + 1, (
                    f"先頭の記録（{seq} 件）より後にイベント {seq + 1} 番から {last} 番があります（挿入）"),
                    REWRITTEN_HINT))
            elif seq > 0 and head_hash != self.state.prev_hash:
                found.append(Finding("AUD904", self.municipality, seq, (
                    f"末尾のイベント {seq} 番か、チェーンの先頭の記録が書き換えられています（ハッシュが一致しません）"),
                    REWRITTEN_HINT))
        beyond = [cp for cp in self.checkpoints if cp.seq > last]
        if beyond:
            cp = max(beyond, key=lambda c: c.seq)
            found.append(Finding("AUD910", self.municipality, last + 1, (
                f"切り詰められています: チェックポイント {cp.source}（{cp.created_at}）では {cp.seq} 件ありましたが、"
                f"データベースには {last} 件しかありません（{last + 1} 番以降が削除）"), REWRITTEN_HINT))
        return found


def _erased_seqs(detail: str) -> list[int]:
    try:
        seqs = json.loads(detail).get("erased", [])
    except (ValueError, AttributeError):
        return []
    return [s for s in seqs if isinstance(s, int)] if isinstance(seqs, list) else []


# --- over a database ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChainSummary:
    municipality: str
    events: int
    head_hash: str
    checkpoints: int  # checkpoints that matched

    def to_json(self) -> dict[str, Any]:
        return {"municipality": self.municipality, "events": self.events, "head_hash": self.head_hash,
                "checkpoints_matched": self.checkpoints}


@dataclass(frozen=True)
class Report:
    chains: list[ChainSummary]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "chains": [c.to_json() for c in self.chains],
                "findings": [f.to_json() for f in self.findings]}


_COLUMNS = (*(EVENTS.c[n] for n in ("municipality_code", "seq", "prev_hash", "hash", "occurred_at", "actor",
                                    "action", "case_id", "task_id", "detail", "personal_digest")),
            *(PERSONAL.c[n] for n in ("salt", "data_before", "data_after", "personal")))
_JOINED = EVENTS.outerjoin(PERSONAL, (PERSONAL.c.municipality_code == EVENTS.c.municipality_code)
                           & (PERSONAL.c.seq == EVENTS.c.seq))


def read_rows(connection: Connection, municipality: str, after: int = 0, upto: int | None = None) -> Iterator[EventRow]:
    """A municipality's events with their payloads, in seq order, streamed.

    On SQLite, occurred_at comes as the stored text (utc_text reads it): parsing a million datetimes only to
    format them again would be a fifth of the verification.
    """
    columns: tuple[ColumnElement[Any], ...] = _COLUMNS
    if connection.dialect.name == "sqlite":
        columns = (*_COLUMNS[:4], type_coerce(EVENTS.c.occurred_at, String).label("occurred_at"), *_COLUMNS[5:])
    query = select(*columns).select_from(_JOINED).where(EVENTS.c.municipality_code == municipality,
                                                         EVENTS.c.seq > after)
    if upto is not None:
        query = query.where(EVENTS.c.seq <= upto)
    # Options on the statement: Connection.execution_options would change the caller's connection for good.
    result = connection.execute(query.order_by(EVENTS.c.seq).execution_options(stream_results=True, yield_per=5000))
    try:
        for r in result:
            yield EventRow(*r)
    finally:  # a walk that stops at a finding leaves the rest unread: release the server-side cursor
        result.close()


def heads(connection: Connection) -> dict[str, tuple[int, str]]:
    """Every chain's head: municipality → (seq, head_hash)."""
    return {r[0]: (int(r[1]), r[2]) for r in connection.execute(
        select(HEADS.c.municipality_code, HEADS.c.seq, HEADS.c.head_hash))}


def verify(connection: Connection, *, municipality: str | None = None,
           checkpoints: Iterable[Checkpoint] = ()) -> Report:
    """Verify every chain (or one municipality's) in the database, against the given checkpoints."""
    by_code: dict[str, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_code.setdefault(cp.municipality, []).append(cp)
    head_rows = heads(connection)
    codes = set(head_rows) | set(by_code) | set(connection.execute(
        select(EVENTS.c.municipality_code).distinct()).scalars())
    if municipality is not None:
        codes &= {municipality}
    chains, findings = [], []
    for code in sorted(codes, key=lambda c: (c != DEPLOYMENT, c)):
        # The application keeps appending while an auditor verifies: walk the chain up to the head read above
        # (a head and its events commit together), then judge rows past it against a fresh read of the head.
        head = head_rows.get(code)
        verifier = verify_rows(code, read_rows(connection, code, upto=head[0] if head else None),
                               by_code.get(code, ()))
        found = verifier.finish(head)
        if not found and head is not None:
            found = _beyond_head(connection, code)
        findings.extend(found)
        chains.append(ChainSummary(code, verifier.events, verifier.state.prev_hash, len(verifier.matched)))
    return Report(chains, findings)


def _beyond_head(connection: Connection, code: str) -> list[Finding]:
    """Rows with a seq past the head that no committed append accounts for (inserted at the end)."""
    top = connection.execute(select(func.max(EVENTS.c.seq)).where(EVENTS.c.municipality_code == code)).scalar()
    if top is None:
        return []
    head = heads(connection).get(code)  # read after top: every append counted in top has moved the head
    seq = head[0] if head is not None else 0
    if top <= seq:
        return []
    return [Finding("AUD903", code, seq + 1, (
        f"先頭の記録（{seq} 件）より後にイベント {seq + 1} 番から {top} 番までの番号の行があります（挿入）"),
        REWRITTEN_HINT)]


def verify_rows(municipality: str, rows: Iterable[EventRow], checkpoints: Iterable[Checkpoint] = (),
                state: ChainState | None = None) -> ChainVerifier:
    """Feed rows to a new verifier until the first finding; the caller calls finish(head)."""
    verifier = ChainVerifier(municipality, list(checkpoints), state or ChainState())
    feed = verifier.feed
    iterator = iter(rows)
    try:
        for row in iterator:
            if not feed(row):
                break
    finally:
        if isinstance(iterator, Generator):
            iterator.close()
    return verifier

