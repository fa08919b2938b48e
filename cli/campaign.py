"""`penguinmails campaign ...`: a campaign's state, through the API (an API key, never the
services), so it works against any deployment."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from cli.console import console, fail, print_rows

campaign_app = typer.Typer(help="Campaigns.", no_args_is_help=True)

# Enrollment statuses in the order a campaign moves its leads through them.
ENROLLMENT_ORDER = (
    "pending",
    "active",
    "paused",
    "completed",
    "replied",
    "unsubscribed",
    "bounced",
    "complained",
    "stopped",
    "removed",
    "failed",
)


async def fetch_status(client: Any, campaign_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The campaign and its counts; ValueError with the API's message on an error answer."""
    got = await client.get(f"/v1/campaigns/{campaign_id}")
    if got.status_code != 200:
        raise ValueError(_message(got))
    stats = await client.get(f"/v1/campaigns/{campaign_id}/stats")
    if stats.status_code != 200:
        raise ValueError(_message(stats))
    return got.json(), stats.json()


def _message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def progress_table(stats: dict[str, Any]) -> Table:
    """Enrollments per status with their share, then sends per step and variant."""
    enrollments: dict[str, int] = stats["enrollments"]
    total = sum(enrollments.values())
    table = Table(title="Enrollments", title_justify="left")
    table.add_column("status")
    table.add_column("leads", justify="right")
    table.add_column("share", justify="right")
    known = [s for s in ENROLLMENT_ORDER if s in enrollments]
    for status in known + sorted(set(enrollments) - set(known)):
        n = enrollments[status]
        table.add_row(status, str(n), f"{100 * n / total:.0f}%" if total else "-")
    table.add_row("[bold]total[/]", f"[bold]{total}[/]", "")
    return table


def sends_table(stats: dict[str, Any]) -> Table:
    table = Table(title="Sends", title_justify="left")
    table.add_column("step", justify="right")
    table.add_column("variant")
    table.add_column("sent", justify="right")
    for row in stats["steps"]:
        table.add_row(str(row["step_order"]), row["variant_id"] or "-", str(row["sent"]))
    return table


@campaign_app.command("status")
def campaign_status(
    campaign_id: Annotated[str, typer.Argument(help="The campaign's id.")],
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="PENGUINMAILS_API_KEY", help="An API key.")
    ],
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", envvar="PENGUINMAILS_API_URL", help="Default PUBLIC_BASE_URL."),
    ] = None,
) -> None:
    """The campaign's status, its pause reasons, its leads' progress and its sends."""
    import asyncio

    import httpx

    from penguinmails.settings import Settings

    base = api_url or Settings().public_base_url

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        headers = {"Authorization": f"Bearer {api_key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            return await fetch_status(client, campaign_id)

    try:
        campaign, stats = asyncio.run(run())
    except ValueError as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:
        fail(f"the API at {base}: {exc or type(exc).__name__}")
    print_rows(
        [
            ("campaign", f"{campaign['name']} ({campaign['id']})"),
            ("status", campaign["status"]),
            ("pause reasons", ", ".join(campaign["pause_reasons"]) or "-"),
            ("started", campaign["started_at"] or "-"),
            ("completed", campaign["completed_at"] or "-"),
            ("messages", ", ".join(f"{k} {v}" for k, v in sorted(stats["outbox"].items())) or "-"),
        ]
    )
    console.print(progress_table(stats))
    console.print(sends_table(stats))
