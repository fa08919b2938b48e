"""`penguinmails staff ...`: PenguinMails staff accounts."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.console import console, fail
from cli.operator import run_with_services

staff_app = typer.Typer(help="PenguinMails staff.", no_args_is_help=True)


@staff_app.command("create")
def staff_create(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail.")],
) -> None:
    """Create a staff account and print its API key, once: it opens the codec endpoint
    (`Authorization: Bearer <key>`) that decodes workflow payloads in the Temporal UI."""
    from usecases.staff import create_staff
    from usecases.tenancy import EmailAlreadyRegistered

    try:
        result = run_with_services(lambda db, client: create_staff(db, client, email))
    except EmailAlreadyRegistered:
        fail(f"{email} is already registered")
    console.print(f"user_id    {result.user_id}")
    console.print(f"api_key    {result.api_key}   (shown once)")
