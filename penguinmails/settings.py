"""One Settings object for every process.

Values come from the environment (and `.env`). Secrets that live in Vault are resolved by
`penguinmails.secrets` when a process starts, never at import time.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Where the embedded dev stack keeps its state (database, workflows, secrets, sink);
    # the same from any working directory, so operator commands find the running stack.
    data_dir: Path = Field(default_factory=lambda: default_data_dir())

    # Postgres. DATABASE_URL is the admin login used for migrations only; the API and the
    # workers log in as the application role (no superuser, no BYPASSRLS, owns nothing).
    database_url: str | None = None
    analytics_database_url: str | None = None
    app_database_user: str = "penguinmails_app"
    app_database_password: SecretStr = SecretStr("penguinmails-app-dev")
    # The narrow cross-tenant role behind `admin_session()`: sign-up, inbound routing.
    system_database_user: str = "penguinmails_system"
    system_database_password: SecretStr = SecretStr("penguinmails-system-dev")
    # Connections per process (docs/operations.md adds them up against the server's
    # max_connections): the application role's pool and its overflow, the system role's,
    # the analytics database's. No overflow for the busy pool: an overflow connection is
    # closed when returned, so a sustained load above the pool size would log in (SCRAM)
    # again and again; a request waits for a pooled connection instead. Idle connections
    # are replaced after the recycle time (instead of a pre-ping round trip on every
    # checkout).
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=0, ge=0)
    database_system_pool_size: int = Field(default=2, ge=1)
    database_system_max_overflow: int = Field(default=2, ge=0)
    database_analytics_pool_size: int = Field(default=2, ge=1)
    database_analytics_max_overflow: int = Field(default=2, ge=0)
    database_pool_recycle_seconds: int = Field(default=1800, ge=1)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)

    redis_url: str | None = None
    # The Redis stream every event goes through (sends, tracking hits, replies, bounces).
    events_stream: str = "events"
    # The events consumer (activities/events.py): its group, entries per read, and how long an
    # entry may sit unacknowledged with a consumer before another one takes it over (a
    # consumer that died mid-batch): short, so freshness holds across a crash.
    events_consumer: bool = True  # whether a worker process runs one (activities/events.py)
    events_group: str = "analytics"
    events_batch: int = Field(default=500, ge=1)
    events_claim_idle_seconds: float = Field(default=10.0, gt=0)
    # Tracking hits: the bot rules file (agents and networks; default the packaged one), and
    # how many messages each API process remembers (one database lookup per message).
    bot_rules_path: Path | None = None
    tracking_cache_size: int = Field(default=100_000, ge=1)

    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_ui_url: str = "http://localhost:8233"

    vault_addr: str | None = None
    vault_token: SecretStr | None = None
    vault_mount: str = "secret"
    codec_key_path: str = "penguinmails/codec-key"
    # The HMAC key of tracking and unsubscribe tokens (32 bytes, created on first use).
    tracking_key_path: str = "penguinmails/tracking-key"
    # The HMAC key of the warmup pool's marker header (penguinmails.warmup_exchange).
    warmup_key_path: str = "penguinmails/warmup-key"
    # The SHA-256 of the codec-only token (`penguinmails staff codec-token`).
    codec_token_path: str = "penguinmails/codec-token"

    # The platform's DNS resolver, `host:port`; unset: the system's. The dev stack and the
    # tests point it at their loopback DNS server.
    dns_resolver: str | None = None

    # What every sending domain publishes (GET /v1/domains/{id}/dns-records): the mailbox
    # provider's SPF include while no IP is assigned, the MX for replies, the tracking
    # host's CNAME target, DMARC aggregate reports; and how long verification keeps trying.
    mail_spf_include: str = "_spf.penguinmails.test"
    mail_mx_host: str = "mx.penguinmails.test"
    tracking_cname_target: str = "track.penguinmails.test"
    dmarc_report_email: str = "dmarc@penguinmails.test"
    domain_verification_deadline_hours: int = 72

    # VPS providers. `local` (the default): loopback servers whose state is one file; the
    # `hostwinds` client is configured when its API URL is set, its key read from Vault
    # (`api_key` at `hostwinds_key_path`) when the worker starts. Sending hosts are named
    # `<ip as dashes>.<sending_host_domain>` (their PTR and HELO name).
    vps_default_provider: str = "local"
    local_provider_state: Path = Field(
        default_factory=lambda data: data["data_dir"] / "local-provider.json"
    )
    local_provider_activate_after_seconds: float = Field(default=2.0, ge=0)
    hostwinds_api_url: str | None = None
    hostwinds_key_path: str = "penguinmails/providers/hostwinds"
    hostwinds_template: str = "ubuntu-22.04"
    hostwinds_plan_rid: str = "1"
    sending_host_domain: str = "mta.penguinmails.test"
    # Development only: a warmup ramp day lasts this many seconds instead of a UTC day (the
    # Temporal dev server cannot skip time). Unset in production. Taken by warmups started
    # while it is set (their workflow's input), so changing it never alters a running one.
    warmup_day_seconds: int | None = Field(default=None, ge=1)
    # DNS blocklists every live IP is checked against, and how often (a Temporal Schedule).
    dnsbl_zones: list[str] = Field(
        default_factory=lambda: ["zen.spamhaus.org", "b.barracudacentral.org"]
    )
    reputation_check_minutes: int = Field(default=360, ge=5)

    # The development SMTP sink (`penguinmails dev`); mailboxes of the dev stack send here.
    smtp_sink_host: str = "127.0.0.1"
    smtp_sink_port: int = 1025
    smtp_sink_dir: Path = Field(default_factory=lambda data: data["data_dir"] / "sink")

    # The platform's own e-mail (welcome, payments, dunning, a finished campaign, API keys):
    # its SMTP server (unset: the development sink above), `none`/`starttls`/`ssl`, the
    # sender, and where in Vault its login lives (fields `username`, `password`; no record:
    # no AUTH). Production sets the host, `starttls` or `ssl`, and the login.
    platform_smtp_host: str | None = None
    platform_smtp_port: int | None = None
    platform_smtp_security: Literal["none", "starttls", "ssl"] = "none"
    platform_smtp_verify_tls: bool = True
    platform_smtp_secret_path: str = "penguinmails/platform-smtp"
    platform_mail_from: str = "PenguinMails <no-reply@penguinmails.test>"

    # `python -m api`: where it listens and how many processes serve (one per core).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # The proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or networks, `*` for any). Empty: nobody's, so the per-IP rate limit counts
    # the connecting address and a client cannot pick its own.
    forwarded_allow_ips: str = ""
    public_base_url: str = "http://localhost:8000"

    max_body_bytes: int = 1_048_576
    # Lead imports: the upload limit (413 above it; the one route exempt from
    # max_body_bytes) and the rows per chunk (one transaction and one ledger row each).
    lead_import_max_bytes: int = 2 * 1024**3
    lead_import_chunk_rows: int = 20_000
    # Chunks of one import loading at once, each in its own transaction and connection
    # (about one database core each): 2 suits a two-core database host.
    lead_import_load_concurrency: int = Field(default=2, ge=1, le=16)
    # The MX check of imported addresses (through DNS_RESOLVER), unless an upload says.
    lead_import_check_mx: bool = False
    # Outbound webhooks: targets in private, loopback or link-local ranges are refused (at
    # registration and when each delivery resolves the host) unless this is on, which the
    # development stack does so endpoints on this machine can be used; plain http likewise.
    webhook_allow_private_targets: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # `/webhooks/inbound`: raw MIME posted by a mail relay, its own body limit (413 above),
    # and where in Vault its shared secret lives (field `secret`).
    inbound_webhook_max_bytes: int = 25 * 1024 * 1024
    inbound_webhook_secret_path: str = "platform/inbound-webhook"
    rate_limit_per_key_per_minute: int = 600
    # How long an API process trusts a verified key without asking the database: a revoked
    # key stops working on every process within this time (at most 5 s).
    api_key_cache_seconds: float = Field(default=2.0, ge=0, le=5)
    rate_limit_per_ip_per_minute: int = 120
    cors_origins: list[str] = Field(default_factory=lambda: ["http://localhost:8233"])

    # The budget of one template render (preview and send): steps (loop iterations, calls,
    # reads), characters written, and wall time as a backstop. Over it: 422
    # `template_too_expensive` in the API, a non-retryable error when sending.
    template_render_max_steps: int = Field(default=1_000_000, ge=1)
    template_render_max_output_chars: int = Field(default=1_000_000, ge=1)
    template_render_timeout_seconds: float = Field(default=2.0, gt=0)

    # Stripe. Its secret key and the webhook signing secret live in Vault at
    # `stripe_secret_path` (fields `api_key`, `webhook_secret`). `stripe_api_base` points the
    # SDK elsewhere (localstripe in development and tests). `stripe_mode`: `checkout` (Stripe:
    # Prices, and Checkout for a first subscription) or `direct` (localstripe, which has
    # neither: Plans, and subscriptions created at once with a test card).
    stripe_api_base: str | None = None
    stripe_mode: Literal["checkout", "direct"] = "checkout"
    stripe_secret_path: str = "penguinmails/stripe"
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Dunning: days a past_due tenant keeps sending before its campaigns pause (`billing`).
    billing_grace_days: int = Field(default=7, ge=1, le=60)

    # Which task queues a worker serves; empty means all of them.
    worker_task_queues: list[str] = Field(default_factory=list)
    # A sending server's own worker (`worker.py --vps-id`): only that server's sending queue.
    worker_vps_id: str | None = None
    sending_max_concurrent_activities: int = 20

    log_level: str = "INFO"

    def app_database_url(self, analytics: bool = False) -> str:
        """URL of the application role, derived from the admin URL (same host and database)."""
        return _with_credentials(
            self._admin_url(analytics),
            self.app_database_user,
            self.app_database_password.get_secret_value(),
        )

    def system_database_url(self, analytics: bool = False) -> str:
        return _with_credentials(
            self._admin_url(analytics),
            self.system_database_user,
            self.system_database_password.get_secret_value(),
        )

    def _admin_url(self, analytics: bool) -> str:
        url = self.analytics_database_url if analytics else self.database_url
        if not url:
            which = "ANALYTICS_DATABASE_URL" if analytics else "DATABASE_URL"
            raise RuntimeError(f"{which} is not set (the dev stack sets it when it starts)")
        return url


def default_data_dir() -> Path:
    """`.data` of the source checkout this package runs from (an editable install, `make
    install`), else `$XDG_DATA_HOME/penguinmails` (`~/.local/share/penguinmails`)."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "alembic.ini").is_file():
        return checkout / ".data"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "penguinmails"


def _with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def asyncpg_dsn(url: str) -> str:
    """asyncpg wants plain `postgresql://`; SQLAlchemy wants `postgresql+asyncpg://`."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlalchemy_async_url(url: str) -> str:
    if url.startswith("postgresql+asyncpg://"):
        return url
    return url.replace("postgresql://", "postgresql+asyncpg://", 1).replace(
        "postgres://", "postgresql+asyncpg://", 1
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
