"""`penguinmails vps ...`: order, list, show and decommission sending servers, and the
tenant's monthly cost, through the API."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from cli.console import console, print_rows
from cli.infra_api import call, run_with_api

vps_app = typer.Typer(help="Sending servers (VPS).", no_args_is_help=True)

ApiKey = Annotated[
    str, typer.Option("--api-key", envvar="PENGUINMAILS_API_KEY", help="An API key.")
]
ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", envvar="PENGUINMAILS_API_URL", help="Default PUBLIC_BASE_URL."),
]


async def list_servers(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await call(
            client, "GET", "/v1/vps-instances" + (f"?cursor={cursor}" if cursor else "")
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def servers_table(servers: list[dict[str, Any]]) -> Table:
    table = Table(title="VPS instances", title_justify="left")
    for column in ("id", "provider", "region", "status", "ip", "monthly", "period end"):
        table.add_column(column)
    for s in servers:
        table.add_row(
            s["id"],
            s["provider"],
            s["region"] or "-",
            s["status"],
            s["ip_address"] or "-",
            s["monthly_cost"] or "-",
            s["decommission_scheduled_for"] or s["current_billing_period_end"] or "-",
        )
    return table


@vps_app.command("list")
def vps_list(api_key: ApiKey, api_url: ApiUrl = None) -> None:
    """The tenant's servers and their monthly cost."""

    async def go(client: httpx.AsyncClient) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return await list_servers(client), await call(
            client, "GET", "/v1/vps-instances/monthly-cost"
        )

    servers, cost = run_with_api(api_key, api_url, go)
    console.print(servers_table(servers))
    print_rows(
        [
            ("monthly cost", f"{cost['monthly_cost']} {cost['currency']}"),
            ("live servers", str(cost["servers"])),
        ]
    )


@vps_app.command("order")
def vps_order(
    api_key: ApiKey,
    region: Annotated[str, typer.Option(help="The provider's region.")] = "local",
    provider: Annotated[str, typer.Option(help="local or hostwinds.")] = "local",
    api_url: ApiUrl = None,
) -> None:
    """Order a server: its lifecycle workflow provisions it."""
    body = {"provider": provider, "region": region}
    vps = run_with_api(api_key, api_url, lambda c: call(c, "POST", "/v1/vps-instances", body))
    print_rows([("id", vps["id"]), ("status", vps["status"]), ("workflow", vps["workflow_id"])])


@vps_app.command("show")
def vps_show(
    vps_id: Annotated[str, typer.Argument(help="The server's id.")],
    api_key: ApiKey,
    api_url: ApiUrl = None,
) -> None:
    vps = run_with_api(api_key, api_url, lambda c: call(c, "GET", f"/v1/vps-instances/{vps_id}"))
    print_rows([(k, "-" if v is None else str(v)) for k, v in vps.items()])


@vps_app.command("decommission")
def vps_decommission(
    vps_id: Annotated[str, typer.Argument(help="The server's id.")],
    api_key: ApiKey,
    api_url: ApiUrl = None,
) -> None:
    """Decommission at the end of the paid period (asking twice changes nothing)."""
    done = run_with_api(
        api_key, api_url, lambda c: call(c, "POST", f"/v1/vps-instances/{vps_id}/decommission")
    )
    print_rows(
        [
            ("status", done["status"]),
            ("decommissioned at", done["decommission_scheduled_for"] or "-"),
            ("asked before", "yes" if done["already_scheduled"] else "no"),
        ]
    )
