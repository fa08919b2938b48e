"""`penguinmails leads ...`: leads and lead lists, through the API (an API key, never the
services), so it works against any deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import console, err_console, fail, print_rows

leads_app = typer.Typer(help="Leads and lead lists.", no_args_is_help=True)


@leads_app.command("import")
def leads_import(
    file: Annotated[Path, typer.Argument(help="The CSV file.", exists=True, dir_okay=False)],
    list_name: Annotated[str, typer.Option("--list", help="The lead list (created if missing).")],
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="PENGUINMAILS_API_KEY", help="An API key.")
    ],
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", envvar="PENGUINMAILS_API_URL", help="Default PUBLIC_BASE_URL."),
    ] = None,
    mapping: Annotated[
        str | None, typer.Option(help='JSON: CSV header -> lead field, e.g. {"Mail": "email"}.')
    ] = None,
    on_duplicate: Annotated[str, typer.Option(help="skip or update existing leads.")] = "skip",
) -> None:
    """Upload a CSV of leads into a list through the API and follow the import.

    The options and the file are checked before anything is sent; a list this command
    created is deleted again if the import cannot start."""
    import asyncio

    import httpx
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from cli.api_client import ImportFailed, check_options, upload_and_follow
    from penguinmails.settings import Settings

    try:
        check_options(file, mapping, on_duplicate)
    except ImportFailed as exc:
        fail(str(exc))
    base = api_url or Settings().public_base_url
    size = file.stat().st_size
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    # A bar only on a terminal: in a pipe or a log it would be one stale line.
    failure: str | None = None
    with Progress(
        *columns,
        TextColumn("{task.fields[detail]}"),
        console=err_console,
        disable=not err_console.is_terminal,
    ) as bar:
        sending = bar.add_task("uploading", total=size, detail="")
        importing = bar.add_task("importing", total=100, detail="", start=False)

        def uploaded(n: int) -> None:
            bar.advance(sending, n)
            done = bar.tasks[sending].completed
            bar.update(sending, detail=f"{done / 1e6:.1f} / {size / 1e6:.1f} MB")

        def progress(status: dict[str, object]) -> None:
            bar.start_task(importing)
            detail = f"{status['rows_total']} rows, {status['accepted']} accepted"
            bar.update(importing, completed=float(str(status["percent"])), detail=detail)

        async def run() -> dict[str, object]:
            headers = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
                return await upload_and_follow(
                    client,
                    file,
                    list_name,
                    mapping=mapping,
                    on_duplicate=on_duplicate,
                    on_upload=uploaded,
                    on_progress=progress,
                )

        try:
            result = asyncio.run(run())
        except ImportFailed as exc:
            failure = str(exc)
        except httpx.HTTPError as exc:
            failure = f"the API at {base}: {exc or type(exc).__name__}"
    if failure is not None:  # after the bar is gone, so the error is the last line
        fail(failure)
    keys = ("status", "rows_total", "accepted", "rejected", "duplicates", "suppressed", "existing")
    print_rows([(key, str(result.get(key))) for key in keys])
    if result.get("rejected"):
        console.print(f"rejected rows: {base.rstrip('/')}/v1/imports/{result['id']}/rejected.csv")
    if result.get("status") != "completed":
        fail(str(result.get("error") or "the import failed"))
