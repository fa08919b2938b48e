"""API keys: stored as a SHA-256 of the secret, found by their public prefix."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.tenancy import ApiKey
from penguinmails.repositories.pagination import Cursor, after, page_rows


@dataclass(frozen=True)
class KeyRecord:
    api_key_id: UUID
    tenant_id: UUID
    user_id: UUID
    key_hash: str
    roles: list[str]
    suspended: bool = False  # the tenant is suspended by staff: the key is refused


# The lookup through the SECURITY DEFINER function, for a raw connection of the application
# role (no transaction, no tenant: it runs before the tenant is known).
LOOKUP_SQL = (
    "SELECT api_key_id, tenant_id, user_id, key_hash, roles, suspended FROM auth_api_key($1)"
)


def key_record(row: Any) -> KeyRecord | None:
    if row is None:
        return None
    return KeyRecord(row[0], row[1], row[2], row[3], _roles(row[4]), bool(row[5]))


def _roles(value: Any) -> list[str]:
    if isinstance(value, str):  # jsonb through a raw connection arrives as text
        value = json.loads(value)
    return list(value or [])


def touch_sql(tenant_id: UUID, key_id: UUID) -> str:
    """The key's last use, as its own transaction of one simple-protocol message (sent ahead
    of a tenant transaction's BEGIN, no round trip of its own). Both ids go through UUID()."""
    return (
        "BEGIN; "  # noqa: S608 — both ids are interpolated as UUID() values, never client text
        f"SELECT set_config('app.current_tenant_id', '{UUID(str(tenant_id))}', true); "
        f"UPDATE api_keys SET last_used = now() WHERE id = '{UUID(str(key_id))}'; "
        "COMMIT; "
    )


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lookup(self, prefix: str) -> KeyRecord | None:
        """Through the SECURITY DEFINER function: works before the tenant is known."""
        row = (
            await self.session.execute(
                text(
                    "SELECT api_key_id, tenant_id, user_id, key_hash, roles, suspended "
                    "FROM auth_api_key(:p)"
                ),
                {"p": prefix},
            )
        ).first()
        if row is None:
            return None
        return KeyRecord(row[0], row[1], row[2], row[3], list(row[4] or []), bool(row[5]))

    async def create(
        self, tenant_id: UUID, user_id: UUID, name: str, prefix: str, key_hash: str
    ) -> ApiKey:
        key = ApiKey(
            tenant_id=tenant_id, user_id=user_id, name=name, prefix=prefix, key_hash=key_hash
        )
        self.session.add(key)
        await self.session.flush()
        return key

    async def get(self, key_id: UUID) -> ApiKey | None:
        return (await self.session.exec(select(ApiKey).where(ApiKey.id == key_id))).first()

    async def list(self, cursor: Cursor | None, limit: int) -> list[ApiKey]:
        return list((await self.session.exec(after(select(ApiKey), ApiKey, cursor, limit))).all())

    async def list_rows(
        self, cursor: Cursor | None, limit: int, columns: Sequence[str]
    ) -> builtins.list[dict[str, Any]]:
        return await page_rows(self.session, ApiKey, columns, cursor, limit, name="api_keys")

    async def touch(self, key_id: UUID) -> None:
        await self.session.execute(
            text("UPDATE api_keys SET last_used = now() WHERE id = :id"), {"id": key_id}
        )

    async def revoke(self, key: ApiKey) -> ApiKey:
        if key.revoked is None:
            key.revoked = utcnow()
            self.session.add(key)
            await self.session.flush()
        return key

    async def revoke_for_user(self, user_id: UUID) -> None:
        keys = await self.session.exec(
            select(ApiKey).where(ApiKey.user_id == user_id, col(ApiKey.revoked).is_(None))
        )
        for key in keys.all():
            await self.revoke(key)
