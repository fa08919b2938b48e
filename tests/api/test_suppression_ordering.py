"""Suppression as an ordering guarantee (no clock): a one-click unsubscribe whose POST has
returned (committed) before a send's reservation means that send never happens, for the
lead's next step in the same campaign; and the answer to the POST came after the commit."""

from __future__ import annotations

from typing import Any

import asyncpg

from activities.delivery import DeliveryActivities
from api.services import Services
from tests.activities.test_delivery import (  # noqa: F401 — fixtures used by name
    World,
    _deliver,
    _row,
    acts,
    events,
    make_world,
    smtp,
    world,
)
from tests.api.conftest import client_for


async def test_an_unsubscribe_committed_before_the_reservation_stops_the_send(
    acts: DeliveryActivities,  # noqa: F811
    world: World,  # noqa: F811
    smtp: Any,  # noqa: F811
    services: Services,
    admin_conn: asyncpg.Connection,
) -> None:
    first = await _deliver(acts, world.input())
    assert first.outcome == "sent"
    [received] = smtp.received(world.message_id())
    link = str(received["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
    token = link.rsplit("/u/", 1)[1]

    async with client_for(services) as client:
        r = await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    # The POST has returned: its transaction is committed. The next step's send comes after.
    follow = await _deliver(
        acts, world.input(step=1, mailbox_id=first.mailbox_id, thread_message_id=first.message_id)
    )
    assert follow.outcome == "stopped", follow
    assert smtp.received(world.message_id(step=1)) == []
    row = await _row(admin_conn, world.message_id(step=1))
    assert row is None or row["status"] not in ("reserved", "sent")
    status = await admin_conn.fetchval("SELECT status FROM leads WHERE id = $1", world.leads[0][0])
    assert status == "unsubscribed"

    # Repeated: 200, idempotent, still nothing sent.
    async with client_for(services) as client:
        again = await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert (
        await admin_conn.fetchval(
            "SELECT count(*) FROM suppressions WHERE tenant_id = $1", world.tenant_id
        )
        == 1
    )
