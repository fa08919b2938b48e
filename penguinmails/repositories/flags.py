"""Feature flags and their per-tenant overrides (global; read and written through the
system role: the flag cache reads every override at once)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.flags import Flag


@dataclass(frozen=True)
class FlagState:
    name: str
    enabled: bool
    percent: int
    description: str | None
    overrides: Mapping[UUID, bool] = field(default_factory=dict)

    def flag(self) -> Flag:
        return Flag(self.name, self.enabled, self.percent, dict(self.overrides))


class FeatureFlagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, name: str | None = None) -> list[FlagState]:
        """Every flag (or the one named) with its overrides, by name."""
        rows = await self.session.execute(
            text(
                "SELECT f.key, f.is_enabled, f.rollout_percentage, f.description, "
                "o.tenant_id, o.is_enabled AS forced FROM feature_flags f "
                "LEFT JOIN feature_flag_overrides o ON o.flag_id = f.id "
                "WHERE CAST(:name AS text) IS NULL OR f.key = :name ORDER BY f.key"
            ),
            {"name": name},
        )
        states: dict[str, tuple[bool, int, str | None, dict[UUID, bool]]] = {}
        for r in rows:
            state = states.setdefault(
                r.key, (r.is_enabled, r.rollout_percentage, r.description, {})
            )
            if r.tenant_id is not None:
                state[3][r.tenant_id] = r.forced
        return [FlagState(k, e, p, d, o) for k, (e, p, d, o) in states.items()]

    async def get(self, name: str) -> FlagState | None:
        found = await self.list(name)
        return found[0] if found else None

    async def flags(self) -> dict[str, Flag]:
        """What the cache holds: every flag, evaluated by `penguinmails.flags.evaluate`."""
        return {s.name: s.flag() for s in await self.list()}

    async def put(
        self,
        name: str,
        enabled: bool,
        percent: int,
        description: str | None,
        updated_by: UUID | None,
    ) -> None:
        """Create the flag, or set its switch, percentage and description."""
        await self.session.execute(
            text(
                "INSERT INTO feature_flags (key, is_enabled, rollout_percentage, description, "
                "updated_by) VALUES (:k, :e, :p, :d, :u) ON CONFLICT (key) DO UPDATE SET "
                "is_enabled = EXCLUDED.is_enabled, "
                "rollout_percentage = EXCLUDED.rollout_percentage, "
                "description = COALESCE(EXCLUDED.description, feature_flags.description), "
                "updated_by = EXCLUDED.updated_by, updated = now()"
            ),
            {"k": name, "e": enabled, "p": percent, "d": description, "u": updated_by},
        )

    async def set_override(
        self, name: str, tenant_id: UUID, enabled: bool, updated_by: UUID | None
    ) -> bool:
        """Force the flag on or off for the tenant; False when the flag does not exist."""
        row = await self.session.execute(
            text(
                "INSERT INTO feature_flag_overrides (flag_id, tenant_id, is_enabled, updated_by) "
                "SELECT id, :t, :e, :u FROM feature_flags WHERE key = :k "
                "ON CONFLICT (flag_id, tenant_id) DO UPDATE SET "
                "is_enabled = EXCLUDED.is_enabled, updated_by = EXCLUDED.updated_by, "
                "updated = now() RETURNING id"
            ),
            {"k": name, "t": tenant_id, "e": enabled, "u": updated_by},
        )
        return row.first() is not None

    async def delete_override(self, name: str, tenant_id: UUID) -> bool:
        """Back to the rollout for that tenant; False when there was no override."""
        row = await self.session.execute(
            text(
                "DELETE FROM feature_flag_overrides o USING feature_flags f "
                "WHERE o.flag_id = f.id AND f.key = :k AND o.tenant_id = :t RETURNING o.id"
            ),
            {"k": name, "t": tenant_id},
        )
        return row.first() is not None
