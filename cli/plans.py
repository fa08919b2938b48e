"""`penguinmails plans`: the plan catalogue with each plan's limits and features."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.console import console
from cli.operator import operator_settings

plans_app = typer.Typer(help="The plan catalogue.", invoke_without_command=True)


@plans_app.callback()
def plans(
    ctx: typer.Context,
    all_plans: Annotated[
        bool, typer.Option("--all", help="Include retired plans (their subscribers keep them).")
    ] = False,
) -> None:
    """List the plans: price, limits (`-`: unlimited) and features."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from penguinmails.billing import FEATURES, LIMITS
    from penguinmails.db import Database
    from penguinmails.models.billing import Plan
    from penguinmails.repositories.plans import PlanRepository

    async def load() -> list[Plan]:
        db = Database(operator_settings())  # the database only: no Temporal, no Vault
        try:
            async with db.admin_session() as session:
                return await PlanRepository(session).list(include_retired=all_plans)
        finally:
            await db.dispose()

    rows = asyncio.run(load())
    table = Table("plan", "price", *LIMITS, "features", "active")
    for plan in rows:
        limits = [
            str(plan.limits.get(n, "-") if plan.limits.get(n) is not None else "-") for n in LIMITS
        ]
        features = ", ".join(f for f in FEATURES if plan.features.get(f)) or "-"
        table.add_row(
            plan.plan_name,
            f"{plan.price} {plan.currency}/{plan.billing_cycle}",
            *limits,
            features,
            "yes" if plan.is_active else "retired",
        )
    console.print(table)
