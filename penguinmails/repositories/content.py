"""The content store in Postgres (`content_objects`): immutable objects keyed by the SHA-256
of their bytes, so the same body stored twice is one row (template bodies, built messages)."""

from __future__ import annotations

import hashlib
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

KEY_PREFIX = "sha256/"


def content_key(body: bytes) -> str:
    return KEY_PREFIX + hashlib.sha256(body).hexdigest()


class ContentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(
        self, tenant_id: UUID, body: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Store `body` once (a second put of the same bytes is a no-op); its key."""
        key = content_key(body)
        await self.session.execute(
            text(
                "INSERT INTO content_objects (tenant_id, content_storage_key, content_type, body) "
                "VALUES (:tenant_id, :key, :content_type, :body) "
                "ON CONFLICT ON CONSTRAINT uq_content_objects_tenant_key DO NOTHING"
            ),
            {"tenant_id": tenant_id, "key": key, "content_type": content_type, "body": body},
        )
        return key

    async def get(self, key: str) -> bytes | None:
        row = (
            await self.session.execute(
                text("SELECT body FROM content_objects WHERE content_storage_key = :key"),
                {"key": key},
            )
        ).first()
        return bytes(row[0]) if row is not None else None


__all__ = ["KEY_PREFIX", "ContentRepository", "content_key"]
