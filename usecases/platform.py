"""Feature flags and system configuration changed by staff (API) or the operator (CLI):
each change and its audit row in one transaction, so there is never one without the other.
The process that made the change drops its own cache; the others see it within 10 s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from penguinmails.db import Database
from penguinmails.repositories.flags import FeatureFlagRepository, FlagState
from penguinmails.repositories.platform_audit import PlatformAuditRepository
from penguinmails.repositories.system_config import SystemConfigRepository
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.settings import Settings
from penguinmails.sysconfig import KEYS, effective, validate


@dataclass(frozen=True)
class Actor:
    """Who changes: a staff member (`staff`, their user id) or the operator's CLI (`system`)."""

    type: str
    id: UUID | None = None

    @property
    def user_id(self) -> UUID | None:
        return self.id if self.type == "staff" else None


class FlagNotFound(Exception):
    pass


class TenantNotFound(Exception):
    pass


async def list_flags(db: Database) -> list[FlagState]:
    async with db.admin_session() as session:
        return await FeatureFlagRepository(session).list()


async def set_flag(
    db: Database,
    actor: Actor,
    name: str,
    enabled: bool,
    percent: int,
    description: str | None = None,
) -> FlagState:
    """Create or change a flag (its switch and rollout percentage, 0-100)."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    async with db.admin_session() as session:
        flags = FeatureFlagRepository(session)
        before = await flags.get(name)
        await flags.put(name, enabled, percent, description, actor.user_id)
        await PlatformAuditRepository(session).record(
            actor.type,
            actor.id,
            "feature_flag.set",
            "feature_flag",
            name,
            {
                "enabled": enabled,
                "percent": percent,
                "before": None
                if before is None
                else {"enabled": before.enabled, "percent": before.percent},
            },
        )
        after = await flags.get(name)
    assert after is not None
    return after


async def set_override(
    db: Database, actor: Actor, name: str, tenant_id: UUID, enabled: bool | None
) -> FlagState:
    """Force the flag on or off for one tenant (`enabled` None: remove the override, back to
    the rollout). Audited in that tenant's trail."""
    async with db.admin_session() as session:
        if await TenantRepository(session).get(tenant_id) is None:
            raise TenantNotFound(str(tenant_id))
        flags = FeatureFlagRepository(session)
        if await flags.get(name) is None:
            raise FlagNotFound(name)
        if enabled is None:
            changed = await flags.delete_override(name, tenant_id)
            action = "feature_flag.override_removed"
        else:
            changed = await flags.set_override(name, tenant_id, enabled, actor.user_id)
            action = "feature_flag.override_set"
        if changed:
            await PlatformAuditRepository(session).record(
                actor.type,
                actor.id,
                action,
                "feature_flag",
                name,
                {} if enabled is None else {"enabled": enabled},
                tenant_id=tenant_id,
            )
        after = await flags.get(name)
    assert after is not None
    return after


async def config_values(db: Database, settings: Settings) -> dict[str, tuple[Any, bool]]:
    """Every known key: (its value, whether it is stored or the default)."""
    async with db.admin_session() as session:
        stored = await SystemConfigRepository(session).values()
    values = effective(stored, settings)
    return {k: (v, k in stored) for k, v in values.items()}


async def set_config(db: Database, actor: Actor, key: str, value: Any) -> Any:
    """Validate by the key's schema (UnknownKey, InvalidValue), store, audit."""
    valid = validate(key, value)
    known = KEYS[key]
    async with db.admin_session() as session:
        config = SystemConfigRepository(session)
        before = await config.get(key)
        await config.put(key, valid, known.description, known.category, actor.user_id)
        await PlatformAuditRepository(session).record(
            actor.type,
            actor.id,
            "system_config.set",
            "system_config",
            key,
            {"value": valid, "before": before},
        )
    return valid
