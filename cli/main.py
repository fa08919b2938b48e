"""The `penguinmails` command: the groups, each in a module of its own.

A group is a `typer.Typer()` added here with `app.add_typer(group, name=...)`; a command of
its own is a function registered with `app.command()`.
"""

from __future__ import annotations

import sys

import typer

from cli.campaign import campaign_app
from cli.dev import dev_app
from cli.flags import flags_app
from cli.inbox import inbox_app
from cli.leads import leads_app
from cli.migrate import migrate
from cli.plans import plans_app
from cli.staff import staff_app
from cli.tenant import tenant_app
from cli.vps import vps_app
from cli.warmup import warmup_app

app = typer.Typer(
    name="penguinmails",
    help="PenguinMails: the dev stack, migrations and operator commands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Usage errors in a box fitted to 80 columns would cut a long path in a pipe or a log:
    # there, click's plain one-line errors instead.
    rich_markup_mode="rich" if sys.stderr.isatty() else None,
)
app.add_typer(dev_app, name="dev")
app.command()(migrate)
app.add_typer(tenant_app, name="tenant")
app.add_typer(staff_app, name="staff")
app.add_typer(leads_app, name="leads")
app.add_typer(campaign_app, name="campaign")
app.add_typer(inbox_app, name="inbox")
app.add_typer(vps_app, name="vps")
app.add_typer(warmup_app, name="warmup")
app.add_typer(plans_app, name="plans")
app.add_typer(flags_app, name="flags")
