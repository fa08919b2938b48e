"""`penguinmails flags`: list feature flags, set one's switch and rollout percentage.

Changes made here are audited with the operator (`system`) as actor, and reach the API and
the workers within 10 s."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.console import console, fail
from cli.operator import operator_settings

flags_app = typer.Typer(help="Feature flags.", no_args_is_help=True)


@flags_app.command("list")
def flags_list() -> None:
    """Every flag: on/off, rollout percentage, the tenants with an override."""
    import asyncio

    from penguinmails.db import Database
    from penguinmails.repositories.flags import FlagState
    from usecases.platform import list_flags

    async def load() -> list[FlagState]:
        db = Database(operator_settings())  # the database only: no Temporal, no Vault
        try:
            return await list_flags(db)
        finally:
            await db.dispose()

    table = Table("flag", "enabled", "percent", "overrides", "description")
    for flag in asyncio.run(load()):
        overrides = ", ".join(
            f"{tenant}={'on' if on else 'off'}" for tenant, on in sorted(flag.overrides.items())
        )
        table.add_row(
            flag.name,
            "on" if flag.enabled else "off",
            str(flag.percent),
            overrides or "-",
            flag.description or "",
        )
    console.print(table)


@flags_app.command("set")
def flags_set(
    name: Annotated[str, typer.Argument(help="The flag's name (created when new).")],
    percent: Annotated[
        int,
        typer.Option(
            "--percent", min=0, max=100, help="Share of tenants it is on for (0-100), when on."
        ),
    ],
    enabled: Annotated[
        bool, typer.Option("--on/--off", help="The global switch (default: on).")
    ] = True,
    description: Annotated[str | None, typer.Option(help="What the flag gates.")] = None,
) -> None:
    """Create or change a flag. Raising the percentage only adds tenants (a stable hash of
    the tenant id decides who is in)."""
    import asyncio
    import re

    from penguinmails.db import Database
    from usecases.platform import Actor, set_flag

    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,99}", name):
        fail("a flag name is lower-case letters, digits, '_', '.' and '-'")

    async def change() -> None:
        db = Database(operator_settings())
        try:
            await set_flag(db, Actor("system"), name, enabled, percent, description)
        finally:
            await db.dispose()

    asyncio.run(change())
    console.print(f"{name}  {'on' if enabled else 'off'}  {percent}%")
