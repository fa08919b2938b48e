"""Staff: the platform's shared IP pool. An IP of the platform's own tenant goes into the
pool (tenants' domains may then be assigned to it) or back out once no other tenant's domain
uses it. Audited in the owner's trail."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter

from api.deps import Principal, ServicesDep, require_staff
from api.errors import ApiError, not_found
from api.schemas.platform import IpPoolPublic, IpPoolPut
from penguinmails.repositories.ip_addresses import IpNotFound, PoolInUse
from usecases.ip_pool import set_ip_pool
from usecases.platform import Actor

router = APIRouter(prefix="/v1/staff/ip-addresses", tags=["staff"])

PoolWrite = Annotated[Principal, require_staff("ip_pool.write")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such live IP"},
    409: {"description": "other tenants' domains still send from the shared IP"},
}


@router.put("/{ip_id}/pool", response_model=IpPoolPublic, responses=RESPONSES)
async def put_ip_pool(
    ip_id: UUID, body: IpPoolPut, staff: PoolWrite, services: ServicesDep
) -> IpPoolPublic:
    try:
        change = await set_ip_pool(services.db, Actor("staff", staff.user_id), ip_id, body.pool)
    except IpNotFound:
        raise not_found("IP address") from None
    except PoolInUse as exc:
        raise ApiError(409, str(exc), details={"domains": exc.domains}) from None
    return IpPoolPublic(
        ip_address_id=change.ip_id,
        ip_address=change.ip_address,
        tenant_id=change.tenant_id,
        status=change.status,
        pool=change.pool,
    )
