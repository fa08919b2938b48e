"""The dev stack's per-server sending workers against the real database: an active `local`
server gets its process, one that exited is started again, a decommissioned one loses it.
The process is a stand-in (a sleeping Python) for `worker.py --vps-id`: the real worker's
sending is tested in tests/workflows/test_vps_sending.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from uuid import UUID

import asyncpg

from devstack.vps_workers import LocalServerWorkers, vps_worker_command
from penguinmails.db import Database
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.repositories.vps import VpsRepository
from penguinmails.settings import Settings


def _stand_in(vps_id: UUID) -> list[str]:
    return [sys.executable, "-c", "import time; time.sleep(120)", str(vps_id)]


async def test_one_process_per_active_local_server(
    db: Database, settings: Settings, admin_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    assert vps_worker_command(UUID(int=7))[-2:] == ["--vps-id", str(UUID(int=7))]
    async with db.admin_session() as session:
        tenant = (await TenantRepository(session).create("Servers Co")).id
    async with db.tenant_session(tenant) as session:
        vps = (await VpsRepository(session).create(tenant, "local", "local")).id
    workers = LocalServerWorkers(settings, dict(os.environ), tmp_path, command=_stand_in)
    try:
        await workers.sync(db)
        assert vps not in workers.children  # still provisioning: no IPs to send from yet
        await admin_conn.execute("UPDATE vps_instances SET status = 'active' WHERE id = $1", vps)
        await workers.sync(db)
        first = workers.children[vps]
        assert first.poll() is None and first.args[-1] == str(vps)
        await workers.sync(db)
        assert workers.children[vps] is first  # running: left alone
        first.kill()
        first.wait()
        await workers.sync(db)
        assert workers.children[vps] is not first and workers.children[vps].poll() is None
        await admin_conn.execute(
            "UPDATE vps_instances SET status = 'decommissioned' WHERE id = $1", vps
        )
        second = workers.children[vps]
        await workers.sync(db)
        assert vps not in workers.children and second.poll() is not None
    finally:
        workers.stop()
    assert workers.children == {}
