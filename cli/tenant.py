"""`penguinmails tenant ...`: tenants."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.console import console, fail
from cli.operator import run_with_services

tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="The tenant's name.")],
    owner_email: Annotated[str, typer.Argument(help="The owner's e-mail (globally unique).")],
) -> None:
    """Sign up a tenant (as POST /v1/tenants does) and print its owner's API key, once."""
    from usecases.tenancy import EmailAlreadyRegistered, sign_up

    try:
        result = run_with_services(lambda db, client: sign_up(db, client, name, owner_email))
    except EmailAlreadyRegistered:
        fail(f"{owner_email} is already registered")
    console.print(f"tenant_id  {result.tenant_id}")
    console.print(f"user_id    {result.user_id}")
    console.print(f"api_key    {result.api_key}   (shown once)")
