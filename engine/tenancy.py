"""Municipality isolation (県域共同化): a session scoped to some municipalities sees and writes nothing else.

The web layer scopes each request's session to the municipalities the signed-in user holds a role in
(`scope`), before any route runs. From then on every statement the session executes on a tenant table —
ORM entity queries, `Session.get`, and Core selects and updates of the tables — gets
`municipality_code IN (…)` added here, once, below the routes; the engine's store (engine/store.py) reads
through the same hook when a session is scoped, and refuses to insert a row for another municipality.
Another municipality's case or task is therefore simply not found (the API answers 404), never a 403 that
would confirm it exists. Sessions that are not scoped (the CLI run by operators, the timer worker) see
everything, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import Select, Update

from engine.models import CaseInstance, CaseSearchKey, CaseTask, Resident

TENANT_KEY = "jichi.tenant"
TENANT_MODELS: tuple[type[Any], ...] = (CaseInstance, CaseTask, Resident, CaseSearchKey)
_TABLES: frozenset[Table] = frozenset(model.__table__ for model in TENANT_MODELS)


class TenantViolation(Exception):
    """A scoped session tried to write a row of a municipality outside its scope (a bug, never user input)."""


def scope(session: Session, municipalities: Iterable[str]) -> None:
    """Restrict the session to these municipalities (an empty set: nothing at all)."""
    session.info[TENANT_KEY] = frozenset(municipalities)


def scoped_to(session: Session) -> frozenset[str] | None:
    """The municipalities a session is restricted to, or None when it is not restricted."""
    codes: frozenset[str] | None = session.info.get(TENANT_KEY)
    return codes


def check_write(session: Session, municipality: str) -> None:
    codes = scoped_to(session)
    if codes is not None and municipality not in codes:
        raise TenantViolation(f"municipality {municipality} is outside this session's scope")


@event.listens_for(Session, "do_orm_execute")
def _restrict(state: ORMExecuteState) -> None:
    codes = scoped_to(state.session)
    if codes is None:
        return
    statement = state.statement
    if isinstance(statement, Select):
        tables = _tenant_tables(statement)  # Core selects of the tables themselves (before the options below)
        statement = statement.options(*_criteria(state.session, codes))  # ORM entities, Session.get, relationships
        for table in tables:
            statement = statement.where(table.c.municipality_code.in_(codes))
        state.statement = statement
    elif isinstance(statement, Update) and statement.table in _TABLES:
        table = statement.table
        state.statement = statement.where(table.c.municipality_code.in_(codes))


_OPTIONS_KEY = "jichi.tenant.options"


def _criteria(session: Session, codes: frozenset[str]) -> tuple[Any, ...]:
    """The loader criteria of every tenant model for these codes, built once per session and scope."""
    cached = session.info.get(_OPTIONS_KEY)
    if cached is not None and cached[0] is codes:
        options: tuple[Any, ...] = cached[1]
        return options
    options = tuple(with_loader_criteria(model, lambda cls: cls.municipality_code.in_(codes), include_aliases=True)
                    for model in TENANT_MODELS)
    session.info[_OPTIONS_KEY] = (codes, options)
    return options


# The tenant tables a statement reads, by the statement's structure (SQLAlchemy's cache key, which leaves out the
# bound values): finding them compiles the statement, which costs far more than the query on an indexed row.
_FOUND: OrderedDict[Any, tuple[Table, ...]] = OrderedDict()
_FOUND_SIZE = 2000
_found_lock = threading.Lock()


def _tenant_tables(statement: Select[Any]) -> tuple[Table, ...]:
    cache_key = statement._generate_cache_key()
    key = cache_key.key if cache_key is not None else None  # the structure; CacheKey itself is not hashable
    if key is not None:
        with _found_lock:
            cached = _FOUND.get(key)
            if cached is not None:
                _FOUND.move_to_end(key)
                return cached
    found: list[Table] = []
    for source in statement.get_final_froms():
        for table in _tables_in(source):
            if table in _TABLES and table not in found:
                found.append(table)
    tables = tuple(found)
    if key is not None:
        with _found_lock:
            _FOUND[key] = tables
            if len(_FOUND) > _FOUND_SIZE:
                _FOUND.popitem(last=False)
    return tables


def _tables_in(source: Any) -> list[Table]:
    if isinstance(source, Table):
        return [source]
    left, right = getattr(source, "left", None), getattr(source, "right", None)
    if left is not None and right is not None:  # a join
        return _tables_in(left) + _tables_in(right)
    return []
