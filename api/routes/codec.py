"""The codec endpoint the Temporal UI calls to show encrypted payloads, staff only.

The UI posts `{"payloads": [...]}` (protobuf JSON) to `<endpoint>/decode`. A browser UI
without an identity provider cannot send an Authorization header, so besides
`Authorization: Bearer <staff key>` the endpoint also takes a credential as a path segment
(`/staff/codec/<credential>`): a staff key, or the codec-only token (`pmc_...`, its hash in
the secret store), which opens these two routes and nothing else. Request logging redacts it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.deps import ServicesDep, authenticate, bearer_token
from api.errors import ApiError
from api.services import Services
from penguinmails.codec import CODEC_TOKEN_PREFIX, CodecKeyMismatch, codec_token_matches
from penguinmails.repositories.staff import is_staff
from penguinmails.secrets import SecretStoreError

router = APIRouter(prefix="/staff/codec", tags=["staff"])


async def _allow_codec(services: Services, token: str) -> None:
    if token.startswith(CODEC_TOKEN_PREFIX):
        if services.secrets is None:
            raise ApiError(503, "the secret store is not configured")
        try:
            record = await services.secrets.read(services.settings.codec_token_path)
        except SecretStoreError:
            raise ApiError(503, "the secret store is unavailable") from None
        if not codec_token_matches(record, token):
            raise ApiError(401, "invalid codec token")
        return
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
    await _allow_codec(services, bearer_token(request))
    return await _transform(request, services, "decode")


@router.post("/encode")
async def encode(request: Request, services: ServicesDep) -> dict[str, Any]:
    await _allow_codec(services, bearer_token(request))
    return await _transform(request, services, "encode")


@router.post("/{credential}/decode", include_in_schema=False)
async def decode_keyed(credential: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    await _allow_codec(services, credential)
    return await _transform(request, services, "decode")


@router.post("/{credential}/encode", include_in_schema=False)
async def encode_keyed(credential: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    await _allow_codec(services, credential)
    return await _transform(request, services, "encode")
