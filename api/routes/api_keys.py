"""API keys: listed by prefix, created (shown once) and revoked by owners and admins."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, ServicesDep, SessionDep
from api.errors import PLAN_LIMIT, ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, fields_of, json_page
from api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from penguinmails.models.tenancy import ApiKey
from penguinmails.repositories.api_keys import ApiKeyRepository
from penguinmails.repositories.plan_limits import PlanLimitRepository
from penguinmails.repositories.transactional_emails import TransactionalEmailRepository
from penguinmails.repositories.users import UserRepository
from penguinmails.security import generate_key

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])
# A list goes from a Core select straight to JSON in ApiKeyPublic's shape.
_FIELDS = fields_of(ApiKeyPublic)


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=PLAN_LIMIT)
async def create_api_key(
    body: ApiKeyCreate, principal: AdminDep, session: SessionDep
) -> ApiKeyCreated:
    new = generate_key()
    holder = body.user_id or principal.user_id
    if holder != principal.user_id:
        member = await UserRepository(session).get_member(holder)
        if member is None:
            raise not_found("user")
        # A key acts with its holder's roles: only an owner may mint an owner's key.
        if "owner" in member[1].roles and not principal.has_any("owner"):
            raise ApiError(403, "only an owner may issue a key to an owner")
    await PlanLimitRepository(session, principal.tenant_id).take("api_keys")
    key = await ApiKeyRepository(session).create(
        principal.tenant_id, holder, body.name, new.prefix, new.key_hash
    )
    await _tell_owner(session, principal.tenant_id, key, "created")
    public = ApiKeyPublic.model_validate(key)
    return ApiKeyCreated(**public.model_dump(), key=new.plaintext)


async def _tell_owner(session: SessionDep, tenant_id: UUID, key: ApiKey, event: str) -> None:
    """An e-mail to the owner, queued in the same transaction as the change."""
    await TransactionalEmailRepository(session).queue(
        tenant_id,
        f"api_key_{event}",
        f"api_key:{key.id}:{event}",
        {"key_name": key.name, "key_prefix": key.prefix},
    )


@router.get("", response_model=Page[ApiKeyPublic])
async def list_api_keys(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Response:
    rows = await ApiKeyRepository(session).list_rows(decode_cursor(cursor), limit, _FIELDS)
    return json_page(rows, limit)


@router.delete("/{key_id}", response_model=ApiKeyPublic)
async def revoke_api_key(
    key_id: UUID, principal: AdminDep, services: ServicesDep, session: SessionDep
) -> ApiKeyPublic:
    repo = ApiKeyRepository(session)
    key = await repo.get(key_id)
    if key is None:
        raise not_found("API key")
    key = await repo.revoke(key)
    await _tell_owner(session, principal.tenant_id, key, "revoked")
    # This process refuses the key at once; the others within api_key_cache_seconds.
    services.keys.forget_key(key_id)
    return ApiKeyPublic.model_validate(key)
