"""Users (global) and their membership of a tenant (`tenant_users`)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import and_, func, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.tenancy import TenantUser, User
from penguinmails.repositories.pagination import Cursor


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find_by_email(self, email: str) -> User | None:
        """Live user with this e-mail, case-insensitively (system role: before any tenant)."""
        result = await self.session.exec(
            select(User).where(func.lower(User.email) == email.lower(), col(User.deleted).is_(None))
        )
        return result.first()

    async def create(self, email: str) -> User:
        # No name: the global row is the person's own, not any tenant's (see add_membership).
        user = User(email=email)
        self.session.add(user)
        await self.session.flush()
        return user

    async def add_membership(
        self,
        tenant_id: UUID,
        user: User,
        roles: Sequence[str],
        email: str | None = None,
        name: str | None = None,
    ) -> TenantUser | None:
        """A new membership, or a removed one brought back; None when already a member.
        `email` and `name` are what this tenant sent: its view of the member, never another's."""
        email = email or user.email
        stmt = (
            insert(TenantUser)
            .values(tenant_id=tenant_id, user_id=user.id, roles=list(roles), email=email, name=name)
            .on_conflict_do_update(
                index_elements=["tenant_id", "user_id"],
                set_={
                    "roles": list(roles),
                    "email": email,
                    "name": name,
                    "created": func.now(),
                    "deleted": None,
                    "updated": func.now(),
                },
                where=col(TenantUser.deleted).is_not(None),
            )
            .returning(TenantUser)
        )
        row = (await self.session.execute(stmt)).first()
        return row[0] if row else None

    async def get_member(self, user_id: UUID) -> tuple[User, TenantUser] | None:
        stmt = (
            select(User, TenantUser)
            .join(TenantUser, col(TenantUser.user_id) == col(User.id))
            .where(User.id == user_id, col(TenantUser.deleted).is_(None))
        )
        row = (await self.session.exec(stmt)).first()
        return (row[0], row[1]) if row else None

    async def list_members(
        self, cursor: Cursor | None, limit: int
    ) -> list[tuple[User, TenantUser]]:
        stmt = (
            select(User, TenantUser)
            .join(TenantUser, col(TenantUser.user_id) == col(User.id))
            .where(col(TenantUser.deleted).is_(None))
        )
        # Paged on the membership's own time: the user's global one is not this tenant's.
        if cursor is not None:
            stmt = stmt.where(
                or_(
                    col(TenantUser.created) > cursor.created,
                    and_(
                        col(TenantUser.created) == cursor.created,
                        col(TenantUser.user_id) > cursor.id,
                    ),
                )
            )
        stmt = stmt.order_by(col(TenantUser.created), col(TenantUser.user_id)).limit(limit + 1)
        rows = (await self.session.exec(stmt)).all()
        return [(u, m) for u, m in rows]

    async def set_roles(self, member: TenantUser, roles: Sequence[str]) -> TenantUser:
        member.roles = list(roles)
        member.updated = utcnow()
        self.session.add(member)
        await self.session.flush()
        return member

    async def remove_member(self, member: TenantUser) -> None:
        member.deleted = utcnow()
        self.session.add(member)
        await self.session.flush()

    async def count_owners(self) -> int:
        stmt = (
            select(func.count())
            .select_from(TenantUser)
            .where(col(TenantUser.deleted).is_(None), col(TenantUser.roles).contains(["owner"]))
        )
        return int((await self.session.exec(stmt)).one())
