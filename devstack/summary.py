"""What the dev stack prints once it is ready: one row per thing a developer opens."""

from __future__ import annotations

from pathlib import Path

from devstack.ports import DevPorts
from penguinmails.checks import redact_url
from penguinmails.settings import Settings


def url_rows(
    settings: Settings, ports: DevPorts, api_url: str, sink_dir: Path | None, data_dir: Path
) -> list[tuple[str, str]]:
    s = settings
    return [
        ("API", api_url),
        ("API docs", f"{api_url}/docs"),
        ("Temporal UI", s.temporal_ui_url),
        ("Temporal", s.temporal_address or ""),
        ("Vault", s.vault_addr or ""),
        ("Postgres", redact_url(s.database_url) if s.database_url else ""),
        ("Redis", s.redis_url or ""),
        ("SMTP sink", f"smtp://127.0.0.1:{ports.smtp}"),
        ("Sink folder", str(sink_dir or "")),
        ("DNS", s.dns_resolver or ""),
        ("IMAP", f"imap://127.0.0.1:{ports.imap} (development mailboxes)"),
        ("State", str(data_dir)),
    ]
