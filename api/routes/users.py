"""Users of the caller's tenant and their roles."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, OwnerDep, ServicesDep, SessionDep
from api.errors import PLAN_LIMIT, ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.schemas.users import UserInvite, UserPublic, UserRolesUpdate
from penguinmails.models.tenancy import TenantUser, User
from penguinmails.repositories.api_keys import ApiKeyRepository
from penguinmails.repositories.plan_limits import PlanLimitRepository
from penguinmails.repositories.users import UserRepository

router = APIRouter(prefix="/v1/users", tags=["users"])


def _public(row: tuple[User, TenantUser]) -> UserPublic:
    # Only what this tenant knows: the address it invited, the name it gave, when it did.
    # The global user's own fields may have been written elsewhere and are never shown.
    user, member = row
    return UserPublic(
        id=user.id,
        email=member.email or user.email,
        name=member.name,
        roles=member.roles,
        created=member.created,
    )


@router.get("", response_model=Page[UserPublic])
async def list_users(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[UserPublic]:
    rows = await UserRepository(session).list_members(decode_cursor(cursor), limit)
    return page(rows, limit, _public, lambda r: (r[1].created, r[1].user_id))


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: UUID, session: SessionDep) -> UserPublic:
    row = await UserRepository(session).get_member(user_id)
    if row is None:
        raise not_found("user")
    return _public(row)


@router.post("", status_code=201, response_model=UserPublic, responses=PLAN_LIMIT)
async def add_user(body: UserInvite, principal: AdminDep, services: ServicesDep) -> UserPublic:
    if "owner" in body.roles and not principal.has_any("owner"):
        raise ApiError(403, "only an owner may grant the owner role")
    # Users are global: finding or creating one needs the system role. The membership row
    # carries the caller's tenant, taken from the key.
    async with services.db.admin_session() as session:
        users = UserRepository(session)
        email = str(body.email)
        # The plan's member limit, under its lock until this transaction commits.
        await PlanLimitRepository(session, principal.tenant_id).take("users")
        user = await users.find_by_email(email) or await users.create(email)
        member = await users.add_membership(
            principal.tenant_id, user, body.roles, email=email, name=body.name
        )
    if member is None:
        raise ApiError(409, "this user is already a member", code="already_member")
    return _public((user, member))


@router.patch("/{user_id}", response_model=UserPublic)
async def set_roles(
    user_id: UUID,
    body: UserRolesUpdate,
    principal: OwnerDep,
    services: ServicesDep,
    session: SessionDep,
) -> UserPublic:
    users = UserRepository(session)
    row = await users.get_member(user_id)
    if row is None:
        raise not_found("user")
    if "owner" in row[1].roles and "owner" not in body.roles and await users.count_owners() <= 1:
        raise ApiError(409, "a tenant keeps at least one owner", code="last_owner")
    member = await users.set_roles(row[1], body.roles)
    services.keys.forget_user(user_id)  # the member's keys act with the new roles
    return _public((row[0], member))


@router.delete("/{user_id}", status_code=204)
async def remove_user(
    user_id: UUID, principal: OwnerDep, services: ServicesDep, session: SessionDep
) -> Response:
    users = UserRepository(session)
    row = await users.get_member(user_id)
    if row is None:
        raise not_found("user")
    if "owner" in row[1].roles and await users.count_owners() <= 1:
        raise ApiError(409, "a tenant keeps at least one owner", code="last_owner")
    await users.remove_member(row[1])
    await ApiKeyRepository(session).revoke_for_user(user_id)
    services.keys.forget_user(user_id)
    return Response(status_code=204)
