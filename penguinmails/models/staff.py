"""Staff (PenguinMails employees): roles, members, permissions. Global tables, reached
through `admin_session()` only; the application role holds no privilege on them."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ForeignKeyConstraint, UniqueConstraint
from sqlmodel import Field

from penguinmails.models.base import Timestamped, id_field


class StaffRole(Timestamped, table=True):
    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("name", name="uq_staff_roles_name"),)

    id: UUID = id_field()
    name: str
    description: str | None = None


class Permission(Timestamped, table=True):
    __tablename__ = "permissions"
    __table_args__ = (UniqueConstraint("name", name="uq_permissions_name"),)

    id: UUID = id_field()
    name: str
    description: str | None = None
    category: str = "general"


class StaffRolePermission(Timestamped, table=True):
    """A pure join: its key is the pair (documented exception to UUID keys)."""

    __tablename__ = "staff_role_permissions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["role_id"],
            ["staff_roles.id"],
            name="fk_staff_role_permissions_role",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["permission_id"],
            ["permissions.id"],
            name="fk_staff_role_permissions_permission",
            ondelete="CASCADE",
        ),
    )

    role_id: UUID = Field(primary_key=True)
    permission_id: UUID = Field(primary_key=True)


class StaffMember(Timestamped, table=True):
    """A user is staff when a row exists; keyed by the user (one row per person)."""

    __tablename__ = "staff_members"
    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_staff_members_user", ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["role_id"], ["staff_roles.id"], name="fk_staff_members_role"),
    )

    user_id: UUID = Field(primary_key=True)
    role_id: UUID | None = None
    notes: str | None = None


__all__ = ["Permission", "StaffMember", "StaffRole", "StaffRolePermission"]
