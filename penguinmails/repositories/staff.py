"""Staff membership (global tables, read through the system role)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


async def is_staff(session: AsyncSession, user_id: UUID) -> bool:
    row = await session.execute(
        text("SELECT 1 FROM staff_members WHERE user_id = :u"), {"u": user_id}
    )
    return row.first() is not None


async def add_staff(session: AsyncSession, user_id: UUID, role: str | None = None) -> None:
    """Make the user staff, with the named role (None: a member without permissions)."""
    await session.execute(
        text(
            "INSERT INTO staff_members (user_id, role_id) "
            "VALUES (:u, (SELECT id FROM staff_roles WHERE name = :r)) "
            "ON CONFLICT (user_id) DO NOTHING"
        ),
        {"u": user_id, "r": role},
    )


async def grant_role(session: AsyncSession, user_id: UUID, role: str) -> bool:
    """Give a staff member the role; False when the user is not staff or the role unknown."""
    row = await session.execute(
        text(
            "UPDATE staff_members SET role_id = r.id, updated = now() FROM staff_roles r "
            "WHERE staff_members.user_id = :u AND r.name = :r RETURNING staff_members.user_id"
        ),
        {"u": user_id, "r": role},
    )
    return row.first() is not None


async def staff_permissions(session: AsyncSession, user_id: UUID) -> frozenset[str] | None:
    """The permissions of the staff member's role; None when the user is not staff."""
    rows = (
        await session.execute(
            text(
                "SELECT p.name FROM staff_members m "
                "LEFT JOIN staff_role_permissions rp ON rp.role_id = m.role_id "
                "LEFT JOIN permissions p ON p.id = rp.permission_id WHERE m.user_id = :u"
            ),
            {"u": user_id},
        )
    ).all()
    if not rows:
        return None
    return frozenset(r.name for r in rows if r.name is not None)
