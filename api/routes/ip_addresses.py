"""The tenant's sending IPs: status, reputation, PTR and HELO names."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import SessionDep
from api.errors import not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.schemas.warmups import IpAddressPublic
from penguinmails.repositories.ip_addresses import IpAddressRepository

router = APIRouter(prefix="/v1/ip-addresses", tags=["ip-addresses"])


@router.get("", response_model=Page[IpAddressPublic])
async def list_ip_addresses(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[IpAddressPublic]:
    rows = await IpAddressRepository(session).page(decode_cursor(cursor), limit)
    return page(rows, limit, IpAddressPublic.model_validate)


@router.get("/{ip_id}", response_model=IpAddressPublic)
async def get_ip_address(ip_id: UUID, session: SessionDep) -> IpAddressPublic:
    ip = await IpAddressRepository(session).get(ip_id)
    if ip is None:
        raise not_found("IP address")
    return IpAddressPublic.model_validate(ip)
