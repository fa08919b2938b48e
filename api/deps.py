"""Dependencies: services, the authenticated principal, role checks, the request's tenant
transaction.

An authenticated route declares `SessionDep` when it reads or writes the tenant's rows: one
pooled connection and one transaction of the tenant for the whole route, committed when the
route returns and rolled back when it raises (before the response is sent). The session
authenticates the caller itself, so a route that needs nothing more of the caller declares
only it; one that uses the caller (ids, roles) or checks roles declares `PrincipalDep` (or
`AdminDep`/`OwnerDep`/`MemberDep`) too, and a route without tenant rows declares just that.

The transaction's round trips: `BEGIN …; SELECT set_config(…)` as one message, the route's
statements, COMMIT. A key verified within the last
`api_key_cache_seconds` costs no database round trip; another one first goes through the
`auth_api_key` function (one round trip, outside the transaction), which also says whether
staff suspended the tenant (403 `tenant_suspended`; a key already cached in another process
keeps working for at most `api_key_cache_seconds`).

Roles (the table in docs/architecture.md): `get_principal` refuses a key without the owner or
admin role any method but GET/HEAD/OPTIONS, unless the route declares its own roles
(`require_roles`: `OwnerDep` narrows, `MemberDep` lets members in, for a POST that only
reads). A new write route that forgets to declare anything is closed to members.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import ApiError
from api.middleware import IP_PENDING
from api.services import Services
from penguinmails.db import DatabaseUnavailable
from penguinmails.repositories.api_keys import (
    LOOKUP_SQL,
    ApiKeyRepository,
    key_record,
    touch_sql,
)
from penguinmails.security import key_prefix, verify_key

log = logging.getLogger("penguinmails.api")


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


def database_unavailable() -> ApiError:
    return ApiError(503, "the database is unavailable; try again")


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
    cached: Principal | None = services.keys.get(prefix, token)
    if cached is not None:
        return cached
    try:
        async with services.db.connection(lambda d: d.fetchrow(LOOKUP_SQL, prefix)) as (_, row):
            record = key_record(row)
    except DatabaseUnavailable:
        raise database_unavailable() from None
    if record is None or not verify_key(token, record.key_hash):
        raise _unauthorized("invalid API key")
    if record.suspended:
        # Read by the same lookup (no extra round trip) and never cached: lifting the
        # suspension works at the next request. A key cached before the suspension is
        # forgotten at once by the suspending process, by others within the cache's TTL.
        raise ApiError(
            403,
            "this tenant is suspended; contact PenguinMails support",
            code="tenant_suspended",
        )
    principal = Principal(
        record.tenant_id, record.user_id, record.api_key_id, frozenset(record.roles)
    )
    services.keys.put(prefix, record.key_hash, principal, record.api_key_id, record.user_id)
    return principal


# Who may call a route that changes something when the route declares no roles of its own.
WRITE_ROLES = ("owner", "admin")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes(methods: set[str] | frozenset[str] | None) -> bool:
    return bool(methods) and not set(methods or ()) <= READ_METHODS


def _too_many(message: str, retry_after: int) -> ApiError:
    return ApiError(429, message, headers={"Retry-After": str(retry_after)})


async def get_principal(request: Request) -> Principal:
    """The caller, authenticated and counted once per request: a second call (the tenant
    session's, a role check's) answers from the request's state."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    # Services straight from the app, not as a sub-dependency: each dependency FastAPI
    # solves costs the hot path a few microseconds.
    services: Services = request.app.state.services
    settings = services.settings
    # The address the middleware left to us (a request with a bearer key): counted here
    # together with the key, one Redis round trip.
    ip: str | None = request.scope.setdefault("state", {}).pop(IP_PENDING, None)
    try:
        principal = await authenticate(services, bearer_token(request))
    except ApiError as exc:
        if ip is not None and exc.status == 401:
            by_ip = await services.limiter.hit("ip", ip, settings.rate_limit_per_ip_per_minute)
            if not by_ip.allowed:
                raise _too_many("too many requests from this address", by_ip.retry_after) from None
        raise
    if ip is None:
        decision = await services.limiter.hit(
            "key", str(principal.api_key_id), settings.rate_limit_per_key_per_minute
        )
    else:
        by_ip, decision = await services.limiter.hit_ip_and_key(
            ip,
            settings.rate_limit_per_ip_per_minute,
            str(principal.api_key_id),
            settings.rate_limit_per_key_per_minute,
        )
        if not by_ip.allowed:
            raise _too_many("too many requests from this address", by_ip.retry_after)
    if not decision.allowed:
        raise _too_many("rate limit exceeded for this API key", decision.retry_after)
    if (
        request.method not in READ_METHODS
        and not principal.has_any(*WRITE_ROLES)
        and not _declares_roles(request)
    ):
        raise forbidden(WRITE_ROLES)
    # The key's last use is recorded once per rate-limit window (a minute), by the window's
    # first request: authentication does not turn every read into a write. A route with a
    # tenant transaction sends it ahead of its BEGIN, in the same message.
    if decision.count == 1:
        if _has_session(request):
            request.state.touch_key = True
        else:
            try:
                async with services.db.tenant_session(principal.tenant_id) as session:
                    await ApiKeyRepository(session).touch(principal.api_key_id)
            except DatabaseUnavailable:
                raise database_unavailable() from None
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_tenant_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The route's one transaction of the caller's tenant (see the module's docstring). A
    connection found dead before the transaction began is replaced once; a database that
    cannot be reached, or a connection lost during the route, answers 503.

    It authenticates by calling `get_principal` itself rather than declaring it: a
    declared sub-dependency is solved again (its parameters, its cache) for every route
    that also declares the principal, which is nearly all. The principal is the same
    either way (`get_principal` answers a second call from the request's state)."""
    services: Services = request.app.state.services
    principal = await get_principal(request)
    prelude = ""
    if getattr(request.state, "touch_key", False):
        request.state.touch_key = False
        prelude = touch_sql(principal.tenant_id, principal.api_key_id)
    try:
        async with services.db.tenant_session(principal.tenant_id, prelude) as session:
            yield session
    except DatabaseUnavailable as exc:
        log.warning("database unavailable: %s", exc)
        raise database_unavailable() from None


# Function scope: the transaction ends when the route returns, before the response is sent.
SessionDep = Annotated[AsyncSession, Depends(get_tenant_session, scope="function")]


def _has_session(request: Request) -> bool:
    """Whether the matched route takes a `SessionDep` (decided once per route)."""
    route = request.scope.get("route")
    if route is None:
        return False
    known: bool | None = getattr(route, "_takes_session", None)
    if known is None:
        known = _takes(route.dependant)
        route._takes_session = known
    return known


def _takes(dependant: Any) -> bool:
    return any(d.call is get_tenant_session or _takes(d) for d in dependant.dependencies)


def _declares_roles(request: Request) -> bool:
    """Whether the matched route has a `require_roles` check (decided once per route)."""
    route = request.scope.get("route")
    if route is None:
        return False
    known: bool | None = getattr(route, "_declares_roles", None)
    if known is None:
        known = has_role_check(route.dependant)
        route._declares_roles = known
    return known


def has_role_check(dependant: Any) -> bool:
    return any(
        getattr(d.call, "roles", None) is not None or has_role_check(d)
        for d in dependant.dependencies
    )


def forbidden(roles: tuple[str, ...]) -> ApiError:
    return ApiError(403, f"this action needs one of the roles: {', '.join(roles)}")


def require_roles(*roles: str) -> object:
    async def check(principal: PrincipalDep) -> Principal:
        if not principal.has_any(*roles):
            raise forbidden(roles)
        return principal

    check.roles = frozenset(roles)  # type: ignore[attr-defined]
    return Depends(check)


# Writes that change the tenant's setup or data; members may read.
AdminDep = Annotated[Principal, require_roles(*WRITE_ROLES)]
OwnerDep = Annotated[Principal, require_roles("owner")]
# Any role: for a POST that only reads (a preview), which members may call too.
MemberDep = Annotated[Principal, require_roles("owner", "admin", "member")]


def require_staff(permission: str) -> Any:
    """A staff member's key whose role holds `permission` (every /v1/staff route names
    one); a tenant's key, or a staff role without it: 403."""

    async def check(request: Request, principal: PrincipalDep) -> Principal:
        from penguinmails.repositories.staff import staff_permissions

        services: Services = request.app.state.services
        try:
            async with services.db.admin_session() as session:
                granted = await staff_permissions(session, principal.user_id)
        except DatabaseUnavailable:
            raise database_unavailable() from None
        if granted is None:
            raise ApiError(403, "staff only")
        if permission not in granted:
            raise ApiError(403, f"this action needs the staff permission {permission}")
        return principal

    # Read by the role checks (any method, once allowed) and by the staff-route test.
    check.roles = frozenset({"staff"})  # type: ignore[attr-defined]
    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)
