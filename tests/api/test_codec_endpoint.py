import base64
import logging

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from api.services import Services
from penguinmails.codec import CODEC_TOKEN_PREFIX, new_codec_token
from penguinmails.repositories.staff import add_staff
from tests.api.conftest import Tenant, sign_up
from usecases.staff import set_codec_token


def _body(payload: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=[payload]))


async def _staff(api: httpx.AsyncClient, services: Services) -> Tenant:
    staff = await sign_up(api, "PenguinMails staff")
    async with services.db.admin_session() as session:
        import uuid

        await add_staff(session, uuid.UUID(staff.user_id))
    return staff


async def test_staff_decode_what_the_workers_encrypt(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="penguinmails.api")
    staff = await _staff(api, services)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"tenant_id":"t-1"}')
    [sealed] = await services.codec.encode([plain])

    r = await api.post("/staff/codec/decode", content=_body(sealed), headers=staff.auth)
    assert r.status_code == 200, r.text
    decoded = r.json()["payloads"][0]
    assert base64.b64decode(decoded["data"]) == b'{"tenant_id":"t-1"}'

    # The Temporal UI variant, key in the path (it cannot send headers without SSO).
    r = await api.post(f"/staff/codec/{staff.key}/decode", content=_body(sealed))
    assert r.status_code == 200
    assert base64.b64decode(r.json()["payloads"][0]["data"]) == b'{"tenant_id":"t-1"}'
    assert "/staff/codec/<redacted>/decode" in caplog.text
    assert staff.key not in caplog.text

    r = await api.post("/staff/codec/encode", content=_body(plain), headers=staff.auth)
    assert r.status_code == 200
    assert base64.b64decode(r.json()["payloads"][0]["metadata"]["encoding"]) == b"binary/encrypted"


async def test_codec_is_staff_only(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    [sealed] = await services.codec.encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b"1")]
    )
    assert (await api.post("/staff/codec/decode", content=_body(sealed))).status_code == 401
    r = await api.post("/staff/codec/decode", content=_body(sealed), headers=tenant_a.auth)
    assert r.status_code == 403
    assert (
        await api.post(f"/staff/codec/{tenant_a.key}/decode", content=_body(sealed))
    ).status_code == 403
    assert (
        await api.post("/staff/codec/nonsense/decode", content=_body(sealed))
    ).status_code == 401


async def test_codec_only_token_decodes_and_opens_nothing_else(
    api: httpx.AsyncClient, services: Services, tenant_a: Tenant
) -> None:
    """What the dev Temporal UI holds instead of a staff key."""
    assert services.secrets is not None
    token = new_codec_token()
    await set_codec_token(services.secrets, services.settings.codec_token_path, token)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"tenant_id":"t-2"}')
    [sealed] = await services.codec.encode([plain])

    r = await api.post(f"/staff/codec/{token}/decode", content=_body(sealed))
    assert r.status_code == 200, r.text
    assert base64.b64decode(r.json()["payloads"][0]["data"]) == b'{"tenant_id":"t-2"}'
    r = await api.post(
        "/staff/codec/decode", content=_body(sealed), headers={"authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    r = await api.post(f"/staff/codec/{token}/encode", content=_body(plain))
    assert r.status_code == 200, r.text

    # No API key: every other route refuses it.
    bearer = {"authorization": f"Bearer {token}"}
    assert (await api.get("/v1/companies", headers=bearer)).status_code == 401
    assert (await api.get("/v1/tenants/me", headers=bearer)).status_code == 401
    assert (await api.post("/v1/companies", json={"name": "x"}, headers=bearer)).status_code == 401

    # A new token replaces it; a forged one of the same shape is refused.
    await set_codec_token(services.secrets, services.settings.codec_token_path, new_codec_token())
    assert (
        await api.post(f"/staff/codec/{token}/decode", content=_body(sealed))
    ).status_code == 401
    r = await api.post(f"/staff/codec/{CODEC_TOKEN_PREFIX}forged/decode", content=_body(sealed))
    assert r.status_code == 401
    # Staff keys keep working beside it.
    staff = await _staff(api, services)
    r = await api.post(f"/staff/codec/{staff.key}/decode", content=_body(sealed))
    assert r.status_code == 200
