"""`penguinmails dev`: the whole stack until Ctrl-C; `penguinmails dev reply`."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cli.console import Terminate, console, err_console, fail, on_signal, print_rows

if TYPE_CHECKING:
    from devstack.stack import DevStack

dev_app = typer.Typer()


@dev_app.callback(invoke_without_command=True)
def dev(
    ctx: typer.Context,
    api_port: Annotated[
        int | None, typer.Option("--api-port", help="API port (default API_PORT or 8000).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="State folder (default DATA_DIR, else the checkout's .data)."
        ),
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

    from devstack.errors import DevStackError
    from devstack.ports import DevPorts
    from devstack.stack import DevStack, parse_command
    from penguinmails.checks import ServiceUnavailable
    from penguinmails.secrets import SecretStoreUnavailable
    from penguinmails.settings import Settings

    started = time.monotonic()
    # Installed explicitly: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
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
        with console.status("starting the API and a worker…"):
            stack.start_apps()
        _print_ready(stack, time.monotonic() - started)
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
    except (KeyboardInterrupt, Terminate):
        pass
    finally:
        # A second Ctrl-C must not cut the orderly stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack.running:
            with console.status("stopping…"):
                stack.stop()
            console.print("stopped")
    raise typer.Exit(code)


def _print_ready(stack: DevStack, seconds: float) -> None:
    print_rows(stack.urls())
    console.print(
        f"[bold green]ready[/] in {seconds:.1f} s (data in {stack.data_dir}); Ctrl-C stops",
        soft_wrap=True,
    )


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

    from cli.operator import operator_settings
    from devstack.dev_reply import OriginalNotFound, reply_to

    settings = operator_settings(require_database=False)
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
