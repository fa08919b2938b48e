"""Staff: feature flags (global switch, rollout percentage, per-tenant overrides). Every
change is audited; the API and the workers see it within 10 s."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path

from api.deps import Principal, ServicesDep, require_staff
from api.errors import not_found
from api.schemas.platform import FLAG_NAME, FlagOverridePublic, FlagOverridePut, FlagPublic, FlagPut
from penguinmails.repositories.flags import FlagState
from usecases.platform import (
    Actor,
    FlagNotFound,
    TenantNotFound,
    list_flags,
    set_flag,
    set_override,
)

router = APIRouter(prefix="/v1/staff/flags", tags=["staff"])

FlagsRead = Annotated[Principal, require_staff("flags.read")]
FlagsWrite = Annotated[Principal, require_staff("flags.write")]
FlagName = Annotated[str, Path(pattern=FLAG_NAME)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such flag or tenant"}}


def _public(state: FlagState) -> FlagPublic:
    return FlagPublic(
        name=state.name,
        enabled=state.enabled,
        percent=state.percent,
        description=state.description,
        overrides=[
            FlagOverridePublic(tenant_id=t, enabled=e) for t, e in sorted(state.overrides.items())
        ],
    )


@router.get("", response_model=list[FlagPublic])
async def list_all_flags(staff: FlagsRead, services: ServicesDep) -> list[FlagPublic]:
    return [_public(s) for s in await list_flags(services.db)]


@router.put("/{name}", response_model=FlagPublic)
async def put_flag(
    name: FlagName, body: FlagPut, staff: FlagsWrite, services: ServicesDep
) -> FlagPublic:
    """Create or change a flag: on/off for everyone, and the percentage of tenants (by a
    stable hash of the tenant id: raising it only adds tenants) when on."""
    state = await set_flag(
        services.db,
        Actor("staff", staff.user_id),
        name,
        body.enabled,
        body.percent,
        body.description,
    )
    services.platform.invalidate()
    return _public(state)


@router.put("/{name}/tenants/{tenant_id}", response_model=FlagPublic, responses=NOT_FOUND)
async def put_override(
    name: FlagName,
    tenant_id: UUID,
    body: FlagOverridePut,
    staff: FlagsWrite,
    services: ServicesDep,
) -> FlagPublic:
    """Force the flag on or off for one tenant, whatever the rollout says."""
    return await _override(services, staff, name, tenant_id, body.enabled)


@router.delete("/{name}/tenants/{tenant_id}", response_model=FlagPublic, responses=NOT_FOUND)
async def delete_override(
    name: FlagName, tenant_id: UUID, staff: FlagsWrite, services: ServicesDep
) -> FlagPublic:
    """Remove the tenant's override: the rollout decides again."""
    return await _override(services, staff, name, tenant_id, None)


async def _override(
    services: ServicesDep, staff: Principal, name: str, tenant_id: UUID, enabled: bool | None
) -> FlagPublic:
    try:
        state = await set_override(
            services.db, Actor("staff", staff.user_id), name, tenant_id, enabled
        )
    except FlagNotFound:
        raise not_found("flag") from None
    except TenantNotFound:
        raise not_found("tenant") from None
    services.platform.invalidate()
    return _public(state)
