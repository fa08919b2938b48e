"""A pool server's decommission: its shared IPs carry other tenants' domains, which the
lifecycle's `move_vps_domains` moves to another shared IP (or leaves with none) and tells
each tenant of its own domains only."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text

from activities.interfaces.vps import MovedDomain, VpsRef
from activities.vps import VpsActivities
from penguinmails.db import Database
from penguinmails.repositories.ip_addresses import IpAddressRepository
from tests.fixtures.ip_pool import shared_ip, two_tenants_on_one_shared_ip


async def test_a_pool_server_s_decommission_moves_every_tenant_s_domains(
    db: Database, admin_conn: asyncpg.Connection
) -> None:
    going, a, b = await two_tenants_on_one_shared_ip(db, admin_conn)
    staying = await shared_ip(admin_conn, owner=going.owner)

    acts = VpsActivities(db, {}, "pool.test")
    out = await acts.move_vps_domains(VpsRef(str(going.owner), str(going.vps_id)))
    assert sorted(out.moved, key=lambda m: m.domain) == sorted(
        [
            MovedDomain(f"send-{t.tenant_id.hex[:8]}.test", going.address, staying.address)
            for t in (a, b)
        ],
        key=lambda m: m.domain,
    )
    for tenant, other in ((a, b), (b, a)):
        async with db.tenant_session(tenant.tenant_id) as session:
            sending = await IpAddressRepository(session).sending_ip(tenant.domain_id)
            notices = (
                (
                    await session.execute(
                        text("SELECT message FROM notifications WHERE type = 'shared_ip_moved'")
                    )
                )
                .scalars()
                .all()
            )
        assert sending is not None and sending.ip_address == staying.address
        assert len(notices) == 1
        assert f"send-{tenant.tenant_id.hex[:8]}.test" in notices[0]
        assert f"send-{other.tenant_id.hex[:8]}.test" not in notices[0]
