"""Keyset pagination on (created, id): stable under inserts, no OFFSET scans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import and_, or_


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
