"""Versions of rules (DESIGN.md, "Versions of rules"): content-addressed rule sets, activation from a date,
and the rule set each case pinned when it started.

A rule set is what applies to one municipality — the core's rule files, then the prefecture's pack, then the
municipality's — stored once per content hash. `jichi pack activate PACK@VERSION --municipality CODE --from
DATE` stores the files of that pack version as they are on disk and records from which date new cases of the
municipality pin them. A running case keeps the rule set it pinned; moving it to another is explicit and
audited (`move_case`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from dsl.rules.load import load_rules
from dsl.rules.model import RuleSet as LoadedRules
from engine import audit, clock
from engine.calendars import pack_for
from engine.manifest import core_version
from engine.models import CaseInstance, RuleActivation, RuleSet
from engine.packs import discover_packs
from engine.rulesets import core_rule_files, pack_rule_files, read_sources
from standard_core.diagnostics import DiagnosticError, Span, error

_cache: dict[str, LoadedRules] = {}
_lock = threading.Lock()


def _fail(code: str, message: str, hint: str) -> DiagnosticError:
    return DiagnosticError([error(code, message, Span("<規則の版>", 1, 1), hint)])


def snapshot(root: Path, municipality: str, pack_id: str,
             version: str) -> tuple[str, list[tuple[str, str]], str | None]:
    """(hash, files, pack id) of the rule files that apply to the municipality, with pack_id at `version`.

    The pack must serve the municipality (its own pack or its prefecture's) and its pack.toml must say
    `version`: what is activated is exactly what was tested.
    """
    packs, _ = discover_packs(root / "local_rules")
    pack, _, problems = pack_for(municipality, packs)
    if problems:
        raise DiagnosticError(problems)
    chain = [p for p in packs if pack is not None and p.id in pack.layers]
    if pack is None or pack_id not in {p.id for p in chain}:
        raise _fail("ENG530", f"パック「{pack_id}」は団体「{municipality}」に適用されるパックではありません",
                    "pack.toml の municipalities（または都道府県のパックの base）を確かめてください。")
    target = next(p for p in chain if p.id == pack_id)
    if target.version != version:
        raise _fail("ENG531", f"パック「{pack_id}」の版は {target.version} です（{version} ではありません）",
                    "有効にする版の pack.toml と規則ファイルを用意し、jichi pack test で確かめてから実行してください。")
    sources, problems = read_sources(core_rule_files(root) + pack_rule_files(pack, packs, municipality), root)
    if problems:
        raise DiagnosticError(problems)
    rules, diagnostics = load_rules(sources)
    if rules is None:
        raise DiagnosticError([d for d in diagnostics if d.is_error])
    canonical = json.dumps({"files": sources, "pack": pack.id, "version": pack.version}, ensure_ascii=False,
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest(), sources, pack.id


def activate(session: Session, root: Path, *, pack_id: str, version: str, municipality: str,
             effective_from: dt.date, actor: str) -> str:
    """Store the rule set (once per hash) and activate it for the municipality from a date; audited."""
    digest, files, served_by = snapshot(root, municipality, pack_id, version)
    if session.get(RuleSet, digest) is None:
        session.add(RuleSet(hash=digest, municipality_code=municipality, pack_id=served_by, pack_version=version,
                            core_version=core_version(root),
                            # [file name, text] pairs in load order: core, then the packs from the outermost base
                            files=json.dumps(files, ensure_ascii=False, separators=(",", ":"))))
        session.flush()
    session.add(RuleActivation(municipality_code=municipality, rule_set_hash=digest, effective_from=effective_from,
                               activated_at=clock.now(), activated_by=actor))
    audit.admin_event(session, action="pack.activated", actor=actor, municipality=municipality,
                      detail={"pack": pack_id, "version": version, "rule_set": digest,
                              "effective_from": effective_from.isoformat()})
    session.commit()
    return digest


_ACTIVATIONS = RuleActivation.__table__.c
# Built once, as a Core statement: every case start reads it, and building and running an ORM select cost about
# as much again as the read itself (~0.16 ms of a start's ~1.7 ms of CPU).
_ACTIVE_RULE_SET = (select(_ACTIVATIONS.rule_set_hash)
                    .where(_ACTIVATIONS.municipality_code == bindparam("b_code"),
                           _ACTIVATIONS.effective_from <= bindparam("b_on"))
                    .order_by(_ACTIVATIONS.effective_from.desc(), _ACTIVATIONS.id.desc()).limit(1))


def active_rule_set(session: Session, municipality: str, on: dt.date) -> str | None:
    """The rule set a case of the municipality starting on `on` pins: the latest activation in effect."""
    row = session.connection().execute(_ACTIVE_RULE_SET, {"b_code": municipality, "b_on": on}).first()
    return row[0] if row is not None else None


def load(session: Session, digest: str) -> LoadedRules:
    """The loaded rules of a stored rule set (cached per process: a hash never changes meaning)."""
    with _lock:
        cached = _cache.get(digest)
    if cached is not None:
        return cached
    row = session.get(RuleSet, digest)
    if row is None:
        raise _fail("ENG532", f"規則の版 {digest[:12]} が見つかりません", "データベースの復元状態を確かめてください。")
    rules, diagnostics = load_rules([(name, text) for name, text in json.loads(row.files)])
    if rules is None:
        raise DiagnosticError([d for d in diagnostics if d.is_error])
    with _lock:
        _cache[digest] = rules
    return rules


def _rule_set_of(session: Session, municipality: str, target: str) -> str:
    """The stored rule set `target` names for a municipality: "PACK@VERSION" (as activated for it) or a hash
    (or a unique prefix of at least 8 characters)."""
    query = select(RuleSet.hash).where(RuleSet.municipality_code == municipality)
    if "@" in target:
        pack_id, _, version = target.partition("@")
        query = query.where(RuleSet.pack_id == pack_id, RuleSet.pack_version == version)
    elif len(target) >= 8:
        query = query.where(RuleSet.hash.like(target.replace("%", "").replace("_", "") + "%"))
    else:
        raise _fail("ENG532", f"規則の版「{target}」の指定が短すぎます", "PACK@VERSION か、ハッシュの先頭8文字以上で指定してください。")
    found = list(session.scalars(query.limit(2)))
    if len(found) != 1:
        problem = "見つかりません" if not found else "複数あります"
        raise _fail("ENG532", f"団体 {municipality} の規則の版「{target}」が{problem}",
                    "jichi pack activate でその団体に保存された版を、PACK@VERSION かハッシュで指定してください。")
    return found[0]


def move_case(session: Session, case_id: str, target: str, actor: str, reason: str) -> tuple[str | None, str]:
    """Move a running case to another stored rule set of its municipality ("PACK@VERSION" or a hash):
    explicit, with a reason, audited. Returns (the version before, the version now)."""
    if not reason.strip():
        raise _fail("ENG533", "規則の版を移す理由がありません", "根拠（条例改正の遡及適用、決裁番号など）を理由に書いてください。")
    case = session.get(CaseInstance, case_id)
    if case is None:
        raise _fail("ENG516", f"案件「{case_id}」はありません", "jichi case show で案件の ID を確かめてください。")
    digest = _rule_set_of(session, case.municipality_code, target)
    previous = case.rules_hash
    session.execute(update(CaseInstance).where(CaseInstance.id == case_id).values(rules_hash=digest))
    audit.admin_event(session, action="case.rules_moved", actor=actor, municipality=case.municipality_code,
                      detail={"case_id": case_id, "from": previous, "to": digest, "reason": reason})
    session.commit()
    return previous, digest
