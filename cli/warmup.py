"""`penguinmails warmup ...`: start, list, pause, resume and stop warmups of mailboxes and
IPs, through the API."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from cli.console import console, fail, print_rows
from cli.infra_api import call, run_with_api
from cli.vps import ApiKey, ApiUrl

warmup_app = typer.Typer(help="Warmups of mailboxes and IPs.", no_args_is_help=True)


def warmup_body(
    mailbox: str | None,
    ip: str | None,
    start: int,
    growth: float,
    target: int,
    weekdays_only: bool,
    pool: bool = False,
) -> dict[str, Any]:
    """The POST /v1/warmups body; ValueError before anything is sent on a bad choice."""
    if (mailbox is None) == (ip is None):
        raise ValueError("give exactly one of --mailbox and --ip")
    if pool and mailbox is None:
        raise ValueError("--pool is for a mailbox warmup")
    target_field = {"email_account_id": mailbox} if mailbox else {"ip_address_id": ip}
    curve = {"start": start, "growth_pct": growth, "target": target, "weekdays_only": weekdays_only}
    return {**target_field, "curve": curve, "pool": pool}


async def list_warmups(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await call(client, "GET", "/v1/warmups" + (f"?cursor={cursor}" if cursor else ""))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


@warmup_app.command("start")
def warmup_start(
    api_key: ApiKey,
    mailbox: Annotated[str | None, typer.Option(help="A mailbox (email account) id.")] = None,
    ip: Annotated[str | None, typer.Option(help="An IP address id.")] = None,
    start: Annotated[int, typer.Option(help="Sends on the first day.")] = 20,
    growth: Annotated[float, typer.Option(help="Growth per ramp day, in %.")] = 20.0,
    target: Annotated[int, typer.Option(help="Sends a day at the end.")] = 500,
    weekdays_only: Annotated[bool, typer.Option(help="Ramp on weekdays only.")] = False,
    pool: Annotated[
        bool, typer.Option(help="Join the warmup pool: exchange warmup messages (mailboxes).")
    ] = False,
    api_url: ApiUrl = None,
) -> None:
    try:
        body = warmup_body(mailbox, ip, start, growth, target, weekdays_only, pool)
    except ValueError as exc:
        fail(str(exc))
    warmup = run_with_api(api_key, api_url, lambda c: call(c, "POST", "/v1/warmups", body))
    print_rows(
        [
            ("id", warmup["id"]),
            ("today's cap", str(warmup["today_cap"])),
            ("workflow", warmup["workflow_id"]),
        ]
    )


@warmup_app.command("list")
def warmup_list(api_key: ApiKey, api_url: ApiUrl = None) -> None:
    warmups = run_with_api(api_key, api_url, list_warmups)
    table = Table(title="Warmups", title_justify="left")
    for column in ("id", "target", "status", "day", "today's cap", "reason"):
        table.add_column(column)
    for w in warmups:
        target = (
            f"mailbox {w['email_account_id']}"
            if w["email_account_id"]
            else f"IP {w['ip_address_id']}"
        )
        table.add_row(
            w["id"],
            target,
            w["status"],
            str(w["day"]),
            str(w["today_cap"]),
            w["last_reason"] or "-",
        )
    console.print(table)


def _command(name: str) -> None:
    def command(
        warmup_id: Annotated[str, typer.Argument(help="The warmup's id.")],
        api_key: ApiKey,
        api_url: ApiUrl = None,
    ) -> None:
        done = run_with_api(
            api_key, api_url, lambda c: call(c, "POST", f"/v1/warmups/{warmup_id}/{name}")
        )
        print_rows([("status", done["status"]), ("today's cap", str(done["today_cap"]))])

    command.__doc__ = f"{name.capitalize()} the warmup (an update of its workflow)."
    warmup_app.command(name)(command)


for _name in ("pause", "resume", "stop"):
    _command(_name)
