"""The plan catalogue (global; the application role reads it, staff write it through the
system role)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.billing import Plan

_COLUMNS = (
    "id, plan_name, price, currency, billing_cycle, stripe_price_id, features, limits, "
    "is_active, created, updated"
)

_INSERT = (
    "INSERT INTO plans (plan_name, price, currency, billing_cycle, stripe_price_id, limits, "  # noqa: S608 — only the module constant _COLUMNS is interpolated
    "features) VALUES (:plan_name, :price, :currency, :billing_cycle, :stripe_price_id, "
    "CAST(:limits AS jsonb), CAST(:features AS jsonb)) ON CONFLICT DO NOTHING "
    "RETURNING " + _COLUMNS
)
_RETIRE = (
    "UPDATE plans SET is_active = false, updated = now() WHERE id = :id "  # noqa: S608 — only the module constant _COLUMNS is interpolated
    "RETURNING " + _COLUMNS
)


class PlanNameTaken(Exception):
    pass


class PlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self, include_retired: bool = False) -> list[Plan]:
        where = "" if include_retired else "WHERE is_active"
        rows = await self.session.execute(
            text(f"SELECT {_COLUMNS} FROM plans {where} ORDER BY price, plan_name")  # noqa: S608 — only the module constant _COLUMNS is interpolated
        )
        return [Plan.model_validate(dict(r._mapping)) for r in rows]

    async def get(self, plan_id: UUID) -> Plan | None:
        return await self._one("id = :v", plan_id)

    async def by_name(self, name: str) -> Plan | None:
        return await self._one("plan_name = :v", name)

    async def by_stripe_id(self, stripe_id: str) -> Plan | None:
        return await self._one("stripe_price_id = :v", stripe_id)

    async def _one(self, condition: str, value: Any) -> Plan | None:
        """The plan matching `condition` (a constant of this class, its value bound)."""
        row = (
            await self.session.execute(
                text(f"SELECT {_COLUMNS} FROM plans WHERE {condition}"),  # noqa: S608 — _COLUMNS and the conditions above are module constants; the value is bound
                {"v": value},
            )
        ).first()
        return None if row is None else Plan.model_validate(dict(row._mapping))

    async def create(self, values: dict[str, Any]) -> Plan:
        """Insert a plan; PlanNameTaken when the name or the Stripe id is in use."""
        row = (
            await self.session.execute(
                text(_INSERT),
                {
                    **values,
                    "limits": json.dumps(values["limits"]),
                    "features": json.dumps(values["features"]),
                },
            )
        ).first()
        if row is None:
            raise PlanNameTaken(values["plan_name"])
        return Plan.model_validate(dict(row._mapping))

    async def retire(self, plan_id: UUID) -> Plan | None:
        """No longer offered; its subscribers keep it (their rows still point at it)."""
        row = (
            await self.session.execute(
                text(_RETIRE),
                {"id": plan_id},
            )
        ).first()
        return None if row is None else Plan.model_validate(dict(row._mapping))
