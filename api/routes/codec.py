"""The codec endpoint the Temporal UI calls to show encrypted payloads, staff only.

The UI posts `{"payloads": [...]}` (protobuf JSON) to `<endpoint>/decode`. A browser UI
without an identity provider cannot send an Authorization header, so besides
`Authorization: Bearer <staff key>` the endpoint also accepts the staff key as a path
segment (`/staff/codec/<key>`); request logging redacts it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.deps import ServicesDep, authenticate, bearer_token
from api.errors import ApiError
from api.services import Services
from penguinmails.codec import CodecKeyMismatch
from penguinmails.repositories.staff import is_staff

router = APIRouter(prefix="/staff/codec", tags=["staff"])


async def _require_staff(services: Services, token: str) -> None:
    principal = await authenticate(services, token)
    async with services.db.admin_session() as session:
        if not await is_staff(session, principal.user_id):
            raise ApiError(403, "staff only")


async def _transform(request: Request, services: Services, direction: str) -> dict[str, Any]:
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError as exc:
        raise ApiError(400, "body is not a Payloads JSON document") from exc
    try:
        if direction == "decode":
            result = await services.codec.decode(payloads.payloads)
        else:
            result = await services.codec.encode(payloads.payloads)
    except CodecKeyMismatch as exc:
        raise ApiError(422, str(exc), code="codec_key_mismatch") from exc
    return json_format.MessageToDict(Payloads(payloads=result))


@router.post("/decode")
async def decode(request: Request, services: ServicesDep) -> dict[str, Any]:
    await _require_staff(services, bearer_token(request))
    return await _transform(request, services, "decode")


@router.post("/encode")
async def encode(request: Request, services: ServicesDep) -> dict[str, Any]:
    await _require_staff(services, bearer_token(request))
    return await _transform(request, services, "encode")


@router.post("/{staff_key}/decode", include_in_schema=False)
async def decode_keyed(staff_key: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    await _require_staff(services, staff_key)
    return await _transform(request, services, "decode")


@router.post("/{staff_key}/encode", include_in_schema=False)
async def encode_keyed(staff_key: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    await _require_staff(services, staff_key)
    return await _transform(request, services, "encode")
