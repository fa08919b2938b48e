"""`penguinmails staff ...`: PenguinMails staff accounts; `staff tenants search` through the
API with a staff key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

import httpx
import typer
from rich.table import Table

from cli.console import console, fail
from cli.operator import run_with_services
from cli.vps import ApiKey, ApiUrl

if TYPE_CHECKING:
    from temporalio.client import Client

    from penguinmails.db import Database

staff_app = typer.Typer(help="PenguinMails staff.", no_args_is_help=True)


ROLES = ("super_admin", "support", "billing", "read_only")


def _role(value: str) -> str:
    if value not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}")
    return value


@staff_app.command("create")
def staff_create(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail.")],
    role: Annotated[
        str, typer.Option(help=f"The staff role: {', '.join(ROLES)}.", callback=_role)
    ] = "read_only",
) -> None:
    """Create a staff account and print its API key, once: it opens the codec endpoint
    (`Authorization: Bearer <key>`) that decodes workflow payloads in the Temporal UI, and
    the /v1/staff routes its role's permissions allow."""
    from usecases.staff import create_staff
    from usecases.tenancy import EmailAlreadyRegistered

    try:
        result = run_with_services(lambda db, client: create_staff(db, client, email, role=role))
    except EmailAlreadyRegistered:
        fail(f"{email} is already registered")
    console.print(f"user_id    {result.user_id}")
    console.print(f"api_key    {result.api_key}   (shown once)")


@staff_app.command("codec-token")
def staff_codec_token() -> None:
    """Make a new codec-only token and print it, once; the previous one stops working.

    It opens the codec endpoint and nothing else: give the Temporal UI the endpoint
    `{PUBLIC_BASE_URL}/staff/codec/<token>` when it cannot forward a staff key."""
    import asyncio

    from cli.operator import operator_settings
    from penguinmails.codec import new_codec_token
    from penguinmails.runtime import secret_store
    from penguinmails.secrets import SecretStoreError
    from usecases.staff import set_codec_token

    settings = operator_settings()
    if not settings.vault_addr or settings.vault_token is None:
        fail("no VAULT_ADDR/VAULT_TOKEN: set them, or start `penguinmails dev` first")
    token = new_codec_token()
    try:
        asyncio.run(set_codec_token(secret_store(settings), settings.codec_token_path, token))
    except SecretStoreError as exc:
        fail(str(exc))
    console.print(f"codec_token  {token}   (shown once)")
    console.print(f"endpoint     {settings.public_base_url.rstrip('/')}/staff/codec/{token}")


@staff_app.command("grant")
def staff_grant(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail.")],
    role: Annotated[str, typer.Argument(help=f"One of {', '.join(ROLES)}.", callback=_role)],
) -> None:
    """Give a staff member a role (its permissions replace the previous role's)."""
    from usecases.staff import UnknownStaff, grant

    async def work(db: Database, _: Client) -> None:
        await grant(db, email, role)

    try:
        run_with_services(work)
    except UnknownStaff:
        fail(f"{email} is not a staff member")
    console.print(f"{email} is now {role}")


tenants_app = typer.Typer(
    help="Tenants, as staff see them (through the API).", no_args_is_help=True
)
staff_app.add_typer(tenants_app, name="tenants")


async def search_tenants(client: httpx.AsyncClient, q: str) -> list[dict[str, Any]]:
    """`GET /v1/staff/tenants?q=` with a staff key (audited as that staff member)."""
    from cli.infra_api import call

    found = await call(client, "GET", "/v1/staff/tenants?" + urlencode({"q": q}))
    return list(found["items"])


def tenants_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "name", "owners", "domains", "suspended", box=None)
    for t in items:
        table.add_row(
            t["id"],
            t["name"],
            ", ".join(t["owner_emails"]),
            ", ".join(t["domains"]),
            t["suspended"] or "",
        )
    return table


@tenants_app.command("search")
def staff_tenants_search(
    q: Annotated[str, typer.Argument(help="Part of a name, owner e-mail or domain; or an id.")],
    api_key: ApiKey,
    api_url: ApiUrl = None,
) -> None:
    """Find tenants by name, owner e-mail, domain or id (a staff key with tenants.read)."""
    from cli.infra_api import run_with_api

    items = run_with_api(api_key, api_url, lambda c: search_tenants(c, q))
    if not items:
        fail(f"no tenant matches {q!r}")
    console.print(tenants_table(items))
