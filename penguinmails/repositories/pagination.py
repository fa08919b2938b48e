"""Keyset pagination on (created, id): stable under inserts, no OFFSET scans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Integer, and_, bindparam, or_
from sqlalchemy import select as sa_select


@dataclass(frozen=True)
class Cursor:
    created: datetime
    id: UUID


S = TypeVar("S", bound=Any)


def after(stmt: S, model: Any, cursor: Cursor | None, limit: int) -> S:
    """Rows after `cursor`, oldest first, one extra to tell whether a next page exists."""
    if cursor is not None:
        stmt = stmt.where(
            or_(
                model.created > cursor.created,
                and_(model.created == cursor.created, model.id > cursor.id),
            )
        )
    ordered: S = stmt.order_by(model.created, model.id).limit(limit + 1)
    return ordered


# The SQL of each named page query with the driver's placeholders, compiled once per process.
_COMPILED: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}


def _keyset(model: Any, columns: Sequence[str], where: Sequence[Any], with_cursor: bool) -> Any:
    stmt = sa_select(*(getattr(model, c) for c in columns)).where(*where)
    if with_cursor:
        created = bindparam("after_created", type_=model.created.type)
        id_ = bindparam("after_id", type_=model.id.type)
        stmt = stmt.where(
            or_(model.created > created, and_(model.created == created, model.id > id_))
        )
    return stmt.order_by(model.created, model.id).limit(bindparam("page_limit", type_=Integer))


async def page_rows(
    session: Any,
    model: Any,
    columns: Sequence[str],
    cursor: Cursor | None,
    limit: int,
    *where: Any,
    name: str | None = None,
) -> list[dict[str, Any]]:
    """A page as plain dicts of `columns` (keyed by name), from a Core select: no ORM
    objects, no identity map, for lists that go straight into a response.

    `name` marks `where` as free of values (its SQL is the same on every call): the
    statement is then compiled once and run on the transaction's asyncpg connection
    directly, without SQLAlchemy's per-statement work (cache key, greenlet, result rows)."""
    driver = session.info.get("driver") if name is not None else None
    if driver is None:
        stmt = sa_select(*(getattr(model, c) for c in columns)).where(*where)
        result = await session.execute(after(stmt, model, cursor, limit))
        return [dict(zip(columns, row, strict=True)) for row in result.all()]
    key = (name, model, tuple(columns), cursor is not None)
    compiled = _COMPILED.get(key)
    if compiled is None:
        statement = _keyset(model, columns, where, cursor is not None).compile(
            dialect=session.bind.dialect
        )
        compiled = _COMPILED[key] = (str(statement), tuple(statement.positiontup or ()))
    sql, order = compiled
    values: dict[str, Any] = {"page_limit": limit + 1}
    if cursor is not None:
        values.update(after_created=cursor.created, after_id=cursor.id)
    rows = await driver.fetch(sql, *(values[n] for n in order))
    return [dict(zip(columns, row, strict=True)) for row in rows]
