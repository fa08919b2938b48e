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


async def add_staff(session: AsyncSession, user_id: UUID, role_id: int | None = None) -> None:
    await session.execute(
        text(
            "INSERT INTO staff_members (user_id, role_id) VALUES (:u, :r) "
            "ON CONFLICT (user_id) DO NOTHING"
        ),
        {"u": user_id, "r": role_id},
    )
