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
