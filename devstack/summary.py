"""What the dev stack prints once it is ready: one row per thing a developer opens.

README.md shows these rows as a default stack prints them from the checkout (a test
compares the two), so a row added here belongs there too.
"""

from __future__ import annotations

from pathlib import Path

from devstack.ports import DevPorts
from penguinmails.checks import redact_url
from penguinmails.settings import Settings


def url_rows(
    settings: Settings,
    ports: DevPorts,
    api_url: str,
    sink_dir: Path | None,
    data_dir: Path,
    cwd: Path | None = None,
) -> list[tuple[str, str]]:
    s = settings
    here = cwd or Path.cwd()
    return [
        ("API", api_url),
        ("API docs", f"{api_url}/docs"),
        ("Temporal UI", s.temporal_ui_url),
        ("Temporal", s.temporal_address or ""),
        ("Vault", s.vault_addr or ""),
        ("Postgres", redact_url(s.database_url) if s.database_url else ""),
        ("Redis", s.redis_url or ""),
        ("SMTP sink", f"smtp://127.0.0.1:{ports.smtp}"),
        ("Sink folder", _shown(sink_dir, here) if sink_dir else ""),
        ("DNS", s.dns_resolver or ""),
        ("IMAP", f"imap://127.0.0.1:{ports.imap} (development mailboxes)"),
        ("Stripe", f"{s.stripe_api_base or ''} (localstripe)" if s.stripe_api_base else ""),
        ("State", _shown(data_dir, here)),
    ]


def _shown(path: Path, cwd: Path) -> str:
    """Relative to the working directory when inside it (`.data/sink` from the checkout)."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)
