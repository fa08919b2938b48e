"""Keyset pagination on (created, id): stable under inserts, no OFFSET scans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import and_, or_
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
    return stmt.order_by(model.created, model.id).limit(limit + 1)


async def page_rows(
    session: Any,
    model: Any,
    columns: Sequence[str],
    cursor: Cursor | None,
    limit: int,
    *where: Any,
) -> list[dict[str, Any]]:
    """A page as plain dicts of `columns` (keyed by name), from a Core select: no ORM
    objects, no identity map, for lists that go straight into a response."""
    stmt = sa_select(*(getattr(model, c) for c in columns)).where(*where)
    result = await session.execute(after(stmt, model, cursor, limit))
    return [dict(zip(columns, row, strict=True)) for row in result.all()]
