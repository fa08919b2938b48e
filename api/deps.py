"""Dependencies: services, the authenticated principal, role checks, a tenant session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request

from api.errors import ApiError
from api.services import Services
from penguinmails.repositories.api_keys import ApiKeyRepository
from penguinmails.security import key_prefix, verify_key


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(frozen=True)
class Principal:
    tenant_id: UUID
    user_id: UUID
    api_key_id: UUID
    roles: frozenset[str]

    def has_any(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer API key")
    return token.strip()


async def authenticate(services: Services, token: str) -> Principal:
    """The tenant comes from the key, never from anything else the client sends."""
    prefix = key_prefix(token)
    if prefix is None:
        raise _unauthorized("invalid API key")
    async with services.db.unscoped_session() as session:
        record = await ApiKeyRepository(session).lookup(prefix)
    if record is None or not verify_key(token, record.key_hash):
        raise _unauthorized("invalid API key")
    return Principal(record.tenant_id, record.user_id, record.api_key_id, frozenset(record.roles))


async def get_principal(request: Request, services: ServicesDep) -> Principal:
    principal = await authenticate(services, bearer_token(request))
    decision = await services.limiter.hit(
        "key", str(principal.api_key_id), services.settings.rate_limit_per_key_per_minute
    )
    if not decision.allowed:
        raise ApiError(
            429,
            "rate limit exceeded for this API key",
            headers={"Retry-After": str(decision.retry_after)},
        )
    # The key's last use is recorded once per rate-limit window (a minute), by the window's
    # first request: authentication does not turn every read into a write.
    if decision.count == 1:
        async with services.db.tenant_session(principal.tenant_id) as session:
            await ApiKeyRepository(session).touch(principal.api_key_id)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str) -> object:
    async def check(principal: PrincipalDep) -> Principal:
        if not principal.has_any(*roles):
            raise ApiError(403, f"this action needs one of the roles: {', '.join(roles)}")
        return principal

    return Depends(check)


# Writes that change the tenant's setup; members may read.
AdminDep = Annotated[Principal, require_roles("owner", "admin")]
OwnerDep = Annotated[Principal, require_roles("owner")]
