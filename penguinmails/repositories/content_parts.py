"""Large objects in the content store: an object of any size is kept as fixed-size parts,
rows of `content_objects` keyed `<key>/<n>` (n from 000000), so an upload is written and
read a part at a time and never held whole in memory; a byte offset maps to one part."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.content import ContentRepository

PART_SIZE = 4 * 1024 * 1024


def part_key(key: str, n: int) -> str:
    return f"{key}/{n:06d}"


class ContentPartsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(
        self, tenant_id: UUID, key: str, n: int, data: bytes, content_type: str = "text/csv"
    ) -> None:
        """Idempotent: writing the same part again replaces it."""
        await self.session.execute(
            text(
                "INSERT INTO content_objects (tenant_id, content_storage_key, content_type, body) "
                "VALUES (:tenant_id, :key, :content_type, :body) "
                "ON CONFLICT ON CONSTRAINT uq_content_objects_tenant_key "
                "DO UPDATE SET body = EXCLUDED.body, content_type = EXCLUDED.content_type"
            ),
            {
                "tenant_id": tenant_id,
                "key": part_key(key, n),
                "content_type": content_type,
                "body": data,
            },
        )

    async def get(self, key: str, n: int) -> bytes | None:
        return await ContentRepository(self.session).get(part_key(key, n))

    async def numbers(self, key: str) -> list[int]:
        """The part numbers present under `key`, in order (parts may be sparse)."""
        rows = await self.session.execute(
            text(
                "SELECT content_storage_key FROM content_objects "
                "WHERE content_storage_key LIKE :prefix ORDER BY content_storage_key"
            ),
            {"prefix": _like_prefix(key)},
        )
        return [int(r[0].rsplit("/", 1)[1]) for r in rows]

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        for n in await self.numbers(key):
            body = await self.get(key, n)
            if body is not None:
                yield body

    async def delete(self, key: str) -> int:
        result = await self.session.execute(
            text("DELETE FROM content_objects WHERE content_storage_key LIKE :prefix"),
            {"prefix": _like_prefix(key)},
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _like_prefix(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}/%"
