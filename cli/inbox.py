"""`penguinmails inbox ...`: the inbox workflows of the mailboxes."""

from __future__ import annotations

import typer

from cli.console import console
from cli.operator import run_with_services

inbox_app = typer.Typer(help="Mailbox inboxes (IMAP polling).", no_args_is_help=True)


@inbox_app.command("start")
def inbox_start() -> None:
    """Start (or wake) the inbox workflow of every active mailbox: for mailboxes that
    became active before inbound polling existed. Safe to repeat."""
    from usecases.inbound import start_all_inboxes

    count = run_with_services(start_all_inboxes)
    console.print(f"inbox workflows started or woken: {count}")


@inbox_app.command("webhook-secret")
def inbox_webhook_secret(
    rotate: bool = typer.Option(False, "--rotate", help="Replace the secret with a new one."),
) -> None:
    """Print the shared secret a mail relay sends to `/webhooks/inbound` in
    `X-Inbound-Secret`, creating it in Vault when there is none."""
    import asyncio
    import secrets as token_source

    from cli.console import fail
    from cli.operator import operator_settings
    from penguinmails.runtime import secret_store
    from penguinmails.secrets import SecretStoreError

    settings = operator_settings(require_database=False)
    try:
        store = secret_store(settings)
    except RuntimeError as exc:
        fail(str(exc))

    async def run() -> str:
        path = settings.inbound_webhook_secret_path
        current = (await store.read(path) or {}).get("secret")
        if current and not rotate:
            return current
        fresh = token_source.token_urlsafe(32)
        await store.write(path, {"secret": fresh})
        return fresh

    try:
        console.print(asyncio.run(run()))
    except SecretStoreError as exc:
        fail(str(exc))
