"""Cursor pagination: `?limit=&cursor=` in, `{"items", "next_cursor"}` out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Depends, Query
from pydantic import BaseModel

from api.errors import ApiError
from api.responses import OrjsonResponse
from penguinmails.repositories.pagination import Cursor

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created: datetime, id_: UUID) -> str:
    raw = f"{created.isoformat()}|{id_}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> Cursor | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        created_text, id_ = raw.split("|", 1)
        created = datetime.fromisoformat(created_text)
        if created.tzinfo is None:
            raise ValueError("a cursor's time carries its offset")
        # In UTC, as the database compares it: an offset can push a date past year 1 or 9999,
        # which only the driver would notice (OverflowError).
        created = created.astimezone(UTC)
        return Cursor(created=created, id=UUID(id_))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid cursor", details={"field": "query.cursor"}) from exc


# A list route's page, as two query parameters of the route itself (`limit: PageLimit = 50,
# cursor: PageCursor = None`, then `decode_cursor(cursor)`): a dependency holding them cost
# every list request one more dependency for FastAPI to solve.
PageLimit = Annotated[int, Query(ge=1, le=200)]
PageCursor = Annotated[str | None, Query(max_length=200)]


async def cursor_first(cursor: PageCursor = None) -> Cursor | None:
    return decode_cursor(cursor)


# The cursor as a dependency, for a route that checks it before anything else it declares
# (the staff lists: an invalid cursor is 400 whoever asks, even a caller refused after).
CursorFirstDep = Annotated[Cursor | None, Depends(cursor_first)]


def json_page(rows: Sequence[dict[str, Any]], limit: int) -> OrjsonResponse:
    """A page of rows already shaped as the route's public model (`page_rows`), written
    straight to JSON: the route's `response_model` still documents it, nothing validates
    or converts it again."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["created"], rows[-1]["id"]) if more and rows else None
    return OrjsonResponse({"items": list(rows), "next_cursor": next_cursor})


def fields_of(model: type[BaseModel]) -> tuple[str, ...]:
    """The public model's fields, in its order: the columns a Core page selects."""
    return tuple(model.model_fields)


def _created_id(row: Any) -> tuple[Any, Any]:
    return row.created, row.id


def page(
    rows: Sequence[Any],
    limit: int,
    to_item: Callable[[Any], T],
    key: Callable[[Any], tuple[Any, Any]] = _created_id,
) -> Page[T]:
    """Build a page from `limit + 1` rows; `key(row)` gives the row's (created, id), the
    rows' own by default."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(*key(rows[-1])) if more and rows else None
    return Page(items=[to_item(r) for r in rows], next_cursor=next_cursor)
