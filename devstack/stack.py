"""The development stack behind `penguinmails dev` (`make run`) and the end-to-end tests.

`DevStack` composes the parts, each in a module of its own: the ports (`devstack.ports`),
the embedded services (`devstack.services`), migrations, the Temporal UI's codec token, the
API and worker processes (`devstack.apps`) and what is printed (`devstack.summary`).
`stop()` ends them in reverse dependency order.

    data_dir/
      postgres/         PGDATA (server.log inside)
      redis/            dump.rdb, redis.log
      temporal.db       Temporal dev server (SQLite)
      openbao/          raft storage, init.json (unseal key + root token, mode 600)
      sink/             one .eml per message received by the SMTP sink
      dovecot/          the development mailboxes (Maildirs) and Dovecot's config
      logs/             temporal.log
      dev-codec.token   the Temporal UI's codec-only token (mode 600)
      dev.env           the resolved URLs, while the stack runs (operator commands read it)
    (DNS: a loopback server in this process publishes every domain's expected records)
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.apps import (
    ENV_FILE,
    AppProcesses,
    default_api_command,
    default_worker_command,
    write_env_file,
)
from devstack.ports import DevPorts
from devstack.services import EmbeddedServices
from devstack.summary import url_rows
from penguinmails.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CODEC_TOKEN_FILE = "dev-codec.token"

# A service whose URL is set is used instead of its embedded twin.
SERVICE_URL_VARS = (
    "DATABASE_URL",
    "ANALYTICS_DATABASE_URL",
    "REDIS_URL",
    "TEMPORAL_ADDRESS",
    "VAULT_ADDR",
    "VAULT_TOKEN",
)

__all__ = ["ENV_FILE", "SERVICE_URL_VARS", "DevStack", "parse_command"]


@dataclass
class DevStack:
    settings: Settings
    ports: DevPorts = field(default_factory=DevPorts)
    # None: the default commands of `devstack.apps`. The tests substitute stand-ins.
    api_command: Sequence[str] | None = None
    worker_command: Sequence[str] | None = None
    cwd: Path = ROOT
    log: Callable[[str], None] = print

    env: dict[str, str] = field(default_factory=dict, init=False)
    services: EmbeddedServices = field(init=False)
    apps: AppProcesses = field(init=False)
    dns_publisher: Any = field(default=None, init=False)
    mail_publisher: Any = field(default=None, init=False)
    server_workers: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.services = EmbeddedServices(
            self.settings,
            self.ports,
            self.data_dir,
            # The UI cannot send an Authorization header without single sign-on, so a
            # codec-only token rides in the endpoint's path: the temporal CLI takes the
            # endpoint on its command line only, and the UI serves it in /api/v1/settings.
            codec_endpoint=f"{self._public_base_url()}/staff/codec/{self.codec_token}",
        )
        self.apps = AppProcesses(
            self.api_url,
            self.api_command or default_api_command(),
            self.worker_command or default_worker_command(),
            self.cwd,
        )

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.ports.api}"

    @property
    def env_file(self) -> Path:
        return self.data_dir / ENV_FILE

    @property
    def sink_dir(self) -> Path | None:
        return self.services.sink_dir

    # -- start --------------------------------------------------------------------------------

    def start(self) -> None:
        self.start_services()
        self.migrate()
        self.start_apps()

    def start_services(self) -> None:
        self.settings = self.services.start()
        self.env = self._resolved_env()
        self.register_codec_token()
        self.register_stripe()

    def migrate(self) -> None:
        from penguinmails import migrate

        migrate.upgrade(self.settings)

    @property
    def codec_token(self) -> str:
        """The Temporal UI's codec-only token, made once and kept in the data folder (0600):
        known before Temporal starts, registered once the secret store is up."""
        path = self.data_dir / CODEC_TOKEN_FILE
        if not path.exists():
            from penguinmails.codec import new_codec_token

            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(new_codec_token())
        return path.read_text().strip()

    def register_codec_token(self) -> None:
        """Put the token's hash where the API checks it (the secret store)."""
        from penguinmails.runtime import secret_store
        from usecases.staff import set_codec_token

        store = secret_store(self.settings)
        asyncio.run(set_codec_token(store, self.settings.codec_token_path, self.codec_token))

    def register_stripe(self) -> None:
        """With the embedded localstripe: its key and a webhook secret in Vault (the secret
        kept across restarts), and its webhook pointed at the API's `/webhooks/stripe`."""
        if "Stripe" not in self.services.names() or not self.settings.stripe_api_base:
            return
        from devstack.localstripe import configure_dev_stripe
        from penguinmails.runtime import secret_store

        asyncio.run(
            configure_dev_stripe(
                secret_store(self.settings),
                self.settings.stripe_secret_path,
                self.settings.stripe_api_base,
                f"{self.api_url}/webhooks/stripe",
            )
        )

    def start_apps(self, health_timeout: float = 90.0) -> None:
        self._start_publishers()
        write_env_file(self.env_file, self.env)
        try:
            self.apps.start(self.env, health_timeout)
            self._start_server_workers()
        except BaseException:
            self.stop()
            raise

    def _start_server_workers(self) -> None:
        """Each active `local` server's own sending worker, on this machine (with the default
        worker only: tests that substitute stand-ins run none)."""
        if self.worker_command is not None or self.server_workers is not None:
            return
        from devstack.vps_workers import LocalServerWorkers

        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.server_workers = LocalServerWorkers(self.settings, env, self.cwd).start()

    def _start_publishers(self) -> None:
        """After migrations: every domain's expected records in the dev DNS, every mailbox on
        the dev IMAP server a Dovecot user."""
        if self.services.dns_server is not None and self.dns_publisher is None:
            from devstack.dev_dns import DomainPublisher

            self.dns_publisher = DomainPublisher(
                self.services.dns_server.zone, self.settings
            ).start()
        if self.services.dovecot is not None and self.mail_publisher is None:
            from devstack.dev_mail import MailboxPublisher
            from penguinmails.runtime import secret_store

            self.mail_publisher = MailboxPublisher(
                self.services.dovecot, self.settings, secret_store(self.settings)
            ).start()

    def exited_child(self) -> tuple[str, int] | None:
        return self.apps.exited_child()

    @property
    def running(self) -> bool:
        return bool(self.services.running or self.apps.children)

    # -- stop ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """API and worker, the publishers, then the services. Safe to call twice."""
        self.env_file.unlink(missing_ok=True)
        if self.server_workers is not None:
            self.server_workers.stop()
            self.server_workers = None
        self.apps.stop()
        for publisher in (self.dns_publisher, self.mail_publisher):
            if publisher is not None:
                publisher.stop()
        self.dns_publisher = self.mail_publisher = None
        self.services.stop(self.log)

    # -- what to print ------------------------------------------------------------------------

    def urls(self) -> list[tuple[str, str]]:
        return url_rows(self.settings, self.ports, self.api_url, self.sink_dir, self.data_dir)

    def embedded(self) -> list[str]:
        return self.services.names()

    # -- the environment the apps and operator commands see -----------------------------------

    def _public_base_url(self) -> str:
        # PUBLIC_BASE_URL wins when configured; otherwise the API's own loopback address.
        if "public_base_url" in self.settings.model_fields_set:
            return self.settings.public_base_url.rstrip("/")
        return self.api_url

    def _resolved_env(self) -> dict[str, str]:
        s = self.settings
        env = {
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": s.database_url or "",
            "ANALYTICS_DATABASE_URL": s.analytics_database_url or "",
            "REDIS_URL": s.redis_url or "",
            "TEMPORAL_ADDRESS": s.temporal_address or "",
            "TEMPORAL_NAMESPACE": s.temporal_namespace,
            "TEMPORAL_UI_URL": s.temporal_ui_url,
            "VAULT_ADDR": s.vault_addr or "",
            "VAULT_TOKEN": s.vault_token.get_secret_value() if s.vault_token else "",
            "VAULT_MOUNT": s.vault_mount,
            "API_HOST": s.api_host,
            "API_PORT": str(self.ports.api),
            # One API process in development (production runs one per core).
            "API_WORKERS": os.environ.get("API_WORKERS", "1"),
            "PUBLIC_BASE_URL": self._public_base_url(),
            "SMTP_SINK_HOST": "127.0.0.1",
            "SMTP_SINK_PORT": str(self.ports.smtp),
            "SMTP_SINK_DIR": str(self.sink_dir or ""),
            # Webhook receivers on this machine (loopback, plain http) are fine in development.
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        }
        if s.dns_resolver:
            env["DNS_RESOLVER"] = s.dns_resolver
        if s.stripe_api_base:
            env["STRIPE_API_BASE"] = s.stripe_api_base
            env["STRIPE_MODE"] = s.stripe_mode
        if "cors_origins" not in s.model_fields_set:
            # The Temporal UI calls the codec endpoint from the browser, from whichever of
            # the two loopback spellings the developer opened.
            ui = s.temporal_ui_url.rstrip("/")
            origins = dict.fromkeys([*s.cors_origins, ui, ui.replace("127.0.0.1", "localhost", 1)])
            env["CORS_ORIGINS"] = json.dumps(list(origins))
        return env


def parse_command(text: str | None) -> list[str] | None:
    return shlex.split(text) if text else None
