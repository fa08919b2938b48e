"""The `penguinmails` command.

Each sub-command is one function decorated with `@app.command()`; a group of commands is a
`typer.Typer()` added with `app.add_typer(group, name=...)`. Expected failures (a service that
cannot be reached, a port in use) print one line and exit 1; tracebacks are for bugs.
"""

from __future__ import annotations

import time

_STARTED = time.monotonic()  # as close to process start as this module gets

import signal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from temporalio.client import Client

    from penguinmails.db import Database
    from penguinmails.devstack import DevStack
    from penguinmails.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    name="penguinmails",
    help="PenguinMails: the dev stack, migrations and operator commands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class _Terminate(Exception):
    """SIGINT or SIGTERM, turned into an exception so `finally` blocks run."""


def _on_signal(signum: int, frame: object) -> NoReturn:
    raise _Terminate


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


dev_app = typer.Typer()
app.add_typer(dev_app, name="dev")


@dev_app.callback(invoke_without_command=True)
def dev(
    ctx: typer.Context,
    api_port: Annotated[
        int | None, typer.Option("--api-port", help="API port (default API_PORT or 8000).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="State folder (default DATA_DIR or .data).")
    ] = None,
    api_cmd: Annotated[str | None, typer.Option("--api-cmd", hidden=True)] = None,
    worker_cmd: Annotated[str | None, typer.Option("--worker-cmd", hidden=True)] = None,
) -> None:
    """Start the whole stack (embedded services, migrations, API, one worker) until Ctrl-C.

    A service whose URL is set is used instead of the embedded one:
    DATABASE_URL + ANALYTICS_DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS, VAULT_ADDR + VAULT_TOKEN.

    Embedded ports: PM_DEV_PG_PORT (5433), PM_DEV_REDIS_PORT (6380),
    PM_DEV_TEMPORAL_PORT (7233), PM_DEV_TEMPORAL_UI_PORT (8233),
    PM_DEV_VAULT_PORT (8200, and the next one), PM_DEV_SMTP_PORT (1025),
    PM_DEV_DNS_PORT (5300), PM_DEV_IMAP_PORT (1143).

    `penguinmails dev reply MESSAGE-ID TEXT` answers a message of the running stack's sink.
    """
    if ctx.invoked_subcommand is not None:
        return
    import os

    from penguinmails.devstack import DevPorts, DevStack, DevStackError, parse_command
    from penguinmails.secrets import SecretStoreUnavailable
    from penguinmails.settings import Settings
    from penguinmails.stack.check import ServiceUnavailable

    # Installed explicitly: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        settings = Settings()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir})
        ports = DevPorts.from_env(os.environ, api=api_port or settings.api_port)
        stack = DevStack(
            settings,
            ports,
            api_command=parse_command(api_cmd),
            worker_command=parse_command(worker_cmd),
            log=lambda line: err_console.print(escape(line), soft_wrap=True),
        )
    except DevStackError as exc:
        fail(str(exc))

    code = 0
    try:
        with console.status("starting services…"):
            stack.start_services()
        console.print(f"services: {', '.join(stack.embedded())} (embedded)")
        with console.status("applying migrations…"):
            stack.migrate()
            stack.ensure_staff()
        with console.status("starting the API and a worker…"):
            stack.start_apps()
        _print_ready(stack, time.monotonic() - _STARTED)
        while (exited := stack.exited_child()) is None:
            time.sleep(0.25)
        name, status = exited
        err_console.print(
            f"[bold red]error:[/] {name} exited with code {status}; stopping", soft_wrap=True
        )
        code = 1
    except (ServiceUnavailable, DevStackError, SecretStoreUnavailable) as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        code = 1
    except (KeyboardInterrupt, _Terminate):
        pass
    finally:
        # A second Ctrl-C must not cut the orderly stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack.services or stack.children:
            with console.status("stopping…"):
                stack.stop()
            console.print("stopped")
    raise typer.Exit(code)


def _print_ready(stack: DevStack, seconds: float) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    for name, url in stack.urls():
        table.add_row(f"[bold]{name}[/]", escape(url))
    console.print(table, soft_wrap=True)
    console.print(
        f"[bold green]ready[/] in {seconds:.1f} s (data in {stack.data_dir}); Ctrl-C stops",
        soft_wrap=True,
    )


@app.command()
def migrate() -> None:
    """Apply the migrations of both databases (DATABASE_URL and ANALYTICS_DATABASE_URL)."""
    import asyncio

    from penguinmails import migrate as migrations
    from penguinmails.settings import Settings
    from penguinmails.stack.check import ServiceUnavailable, check_postgres

    settings = Settings()
    if not settings.database_url or not settings.analytics_database_url:
        fail("DATABASE_URL and ANALYTICS_DATABASE_URL must be set (or run `penguinmails dev`)")
    try:
        asyncio.run(check_postgres(settings.database_url))
        asyncio.run(check_postgres(settings.analytics_database_url))
    except ServiceUnavailable as exc:
        fail(str(exc))
    migrations.upgrade(settings)
    console.print("migrated both databases to head")


@dev_app.command("reply")
def dev_reply(
    message_id: Annotated[str, typer.Argument(help="Message-ID of a message the sink received.")],
    text: Annotated[str, typer.Argument(help="The reply's text.")],
) -> None:
    """Reply to a message the dev sink received, as its recipient.

    The reply goes through the sink into the sender's development mailbox (its INBOX over
    IMAP), threaded with In-Reply-To and References.
    """
    import asyncio

    from penguinmails.devstack import ENV_FILE
    from penguinmails.settings import Settings
    from penguinmails.stack.dev_reply import OriginalNotFound, reply_to

    settings = Settings()
    dev_env = settings.data_dir / ENV_FILE
    if dev_env.exists():
        settings = Settings(_env_file=(".env", dev_env))  # type: ignore[call-arg]
    try:
        reply = asyncio.run(
            reply_to(
                settings.smtp_sink_dir,
                settings.smtp_sink_host,
                settings.smtp_sink_port,
                message_id,
                text,
            )
        )
    except OriginalNotFound as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"the dev SMTP sink at {settings.smtp_sink_host}:{settings.smtp_sink_port} "
             f"did not take the reply ({exc}); is `penguinmails dev` running?")  # fmt: skip
    console.print(f"replied: {reply['Message-ID']} to {reply['To']}")


def operator_settings() -> Settings:
    """Settings from the environment and `.env`, else those of the running `penguinmails dev`
    (it leaves the resolved URLs in `<data dir>/dev.env` while it runs)."""
    from penguinmails.devstack import ENV_FILE
    from penguinmails.settings import Settings

    settings = Settings()
    dev_env = settings.data_dir / ENV_FILE
    if settings.database_url is None and dev_env.exists():
        settings = Settings(_env_file=(".env", dev_env))  # type: ignore[call-arg]
    if settings.database_url is None:
        fail("no DATABASE_URL: set the services' URLs, or start `penguinmails dev` first")
    return settings


async def _with_services(work: Callable[[Database, Client], Awaitable[T]]) -> T:
    from penguinmails.db import Database
    from penguinmails.runtime import secret_store, temporal_client
    from penguinmails.stack.check import check_postgres, check_temporal

    settings = operator_settings()
    await check_postgres(settings.app_database_url())
    await check_temporal(settings.temporal_address)
    db = Database(settings)
    try:
        client = await temporal_client(settings, secret_store(settings))
        return await work(db, client)
    finally:
        await db.dispose()


def _run(work: Callable[[Database, Client], Awaitable[T]]) -> T:
    import asyncio

    from penguinmails.secrets import SecretStoreUnavailable
    from penguinmails.stack.check import ServiceUnavailable

    try:
        return asyncio.run(_with_services(work))
    except (ServiceUnavailable, SecretStoreUnavailable) as exc:
        fail(str(exc))


tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="The tenant's name.")],
    owner_email: Annotated[str, typer.Argument(help="The owner's e-mail (globally unique).")],
) -> None:
    """Sign up a tenant (as POST /v1/tenants does) and print its owner's API key, once."""
    from penguinmails.tenancy import EmailAlreadyRegistered, sign_up

    try:
        result = _run(lambda db, client: sign_up(db, client, name, owner_email))
    except EmailAlreadyRegistered:
        fail(f"{owner_email} is already registered")
    console.print(f"tenant_id  {result.tenant_id}")
    console.print(f"user_id    {result.user_id}")
    console.print(f"api_key    {result.api_key}   (shown once)")


staff_app = typer.Typer(help="PenguinMails staff.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


@staff_app.command("create")
def staff_create(
    email: Annotated[str, typer.Argument(help="The staff member's e-mail.")],
) -> None:
    """Create a staff account and print its API key, once: it opens the codec endpoint
    (`Authorization: Bearer <key>`) that decodes workflow payloads in the Temporal UI."""
    from penguinmails.staff import create_staff
    from penguinmails.tenancy import EmailAlreadyRegistered

    try:
        result = _run(lambda db, client: create_staff(db, client, email))
    except EmailAlreadyRegistered:
        fail(f"{email} is already registered")
    console.print(f"user_id    {result.user_id}")
    console.print(f"api_key    {result.api_key}   (shown once)")


leads_app = typer.Typer(help="Leads and lead lists.", no_args_is_help=True)
app.add_typer(leads_app, name="leads")


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
    """Upload a CSV of leads into a list through the API and follow the import."""
    import asyncio

    import httpx
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from penguinmails.leads.client import ImportFailed, upload_and_follow
    from penguinmails.settings import Settings

    base = api_url or Settings().public_base_url
    size = file.stat().st_size
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, TextColumn("{task.fields[detail]}"), console=err_console) as bar:
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
        except (ImportFailed, httpx.HTTPError) as exc:
            fail(str(exc))
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    for key in (
        "status",
        "rows_total",
        "accepted",
        "rejected",
        "duplicates",
        "suppressed",
        "existing",
    ):
        table.add_row(f"[bold]{key}[/]", escape(str(result.get(key))))
    console.print(table)
    if result.get("rejected"):
        console.print(f"rejected rows: {base.rstrip('/')}/v1/imports/{result['id']}/rejected.csv")
    if result.get("status") != "completed":
        fail(str(result.get("error") or "the import failed"))


if __name__ == "__main__":  # `python -m penguinmails.cli`, when the script is not installed
    app()
