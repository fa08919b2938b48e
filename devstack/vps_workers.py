"""The `local` provider's servers as processes: in `make run` each active local server's
sending worker (`worker.py --vps-id ID`) runs on this machine, as it would run on the
server itself in production, and binds the server's 127.0.0.x addresses as the source of
its connections (all of 127.0.0.0/8 reaches the loopback interface on Linux).

A thread looks at the database every few seconds: a server that became active gets its
worker, one decommissioned (or failed) loses it, and a worker that exited is started again.
The VPS lifecycle workflow knows nothing of this: the provider's activities run on the
`infra` queue of whichever worker picks them up, and a process started from there would die
with that worker. Development only: reads across tenants through `admin_session()`.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from uuid import UUID

from devstack import process as proc
from devstack.periodic import PeriodicSync
from penguinmails.db import Database
from penguinmails.repositories.vps import live_local_servers
from penguinmails.settings import Settings

log = logging.getLogger(__name__)


def vps_worker_command(vps_id: UUID) -> list[str]:
    return [sys.executable, "worker.py", "--vps-id", str(vps_id)]


class LocalServerWorkers(PeriodicSync):
    name = "local server workers"

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        cwd: Path,
        interval: float = 3.0,
        command: Callable[[UUID], Sequence[str]] = vps_worker_command,
    ) -> None:
        super().__init__(settings, interval)
        self.env = dict(env)
        self.cwd = cwd
        self.command = command
        self.children: dict[UUID, subprocess.Popen[bytes]] = {}

    async def sync(self, db: Database) -> None:
        async with db.admin_session() as session:
            wanted = set(await live_local_servers(session))
        for vps_id in sorted(set(self.children) - wanted):
            log.info("stopping the sending worker of server %s", vps_id)
            proc.stop(self.children.pop(vps_id), sig=signal.SIGINT, timeout=35)
        for vps_id in sorted(wanted):
            child = self.children.get(vps_id)
            if child is not None and child.poll() is None:
                continue
            if child is not None:
                log.warning("the sending worker of server %s exited (%s)", vps_id, child.poll())
            self.children[vps_id] = proc.spawn(
                self.command(vps_id), env=self.env, cwd=self.cwd, inherit_output=True
            )

    def stop(self) -> None:
        super().stop()
        for vps_id in list(self.children):
            proc.stop(self.children.pop(vps_id), sig=signal.SIGINT, timeout=35)
