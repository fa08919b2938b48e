"""A campaign's stats from the analytics database: totals with unique numerators beside raw
totals, rates, the per-step funnel, each variant's reply rate against the control with a
two-proportion z-test, and `unknown` sends from the outbox."""

from __future__ import annotations

import csv
import io
import uuid

import asyncpg
import httpx
from temporalio.testing import ActivityEnvironment

from activities.inbound import InboundActivities
from activities.interfaces.inbound import PollInboxInput
from api.services import Services
from devstack.dovecot import Dovecot
from penguinmails.inbound_mail import record_inbound
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings
from tests.api.conftest import Tenant
from tests.api.test_campaigns import _campaign, _ready, setup
from tests.api.test_engagement_events import consumer, drain
from tests.fixtures import inbound_samples as samples
from tests.fixtures.inbound import inbound_world

AT = "2026-11-20T10:00:00+00:00"


async def _append(services: Services, fields: dict[str, str]) -> None:
    await services.redis.xadd(services.settings.events_stream, fields)  # type: ignore[arg-type]


async def test_stats_funnel_and_variant_significance(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_conn: asyncpg.Connection,
) -> None:
    s = await setup(api, admin_conn, tenant_a)
    campaign = await _campaign(api, s)
    step = await _ready(api, s, campaign)
    r = await api.put(
        f"/v1/campaigns/{campaign}/steps/{step}/variants",
        json={"variants": [{"subject": "A"}, {"subject": "B", "label": '=HYPERLINK("x"), B'}]},
        headers=tenant_a.auth,
    )
    assert r.status_code == 200, r.text
    variants = [v["id"] for v in r.json()["variants"]]
    base = {"tenant": tenant_a.tenant_id, "campaign": campaign, "step": step}
    base["mailbox"] = str(s.mailbox_id)
    # A: 100 sent, 5 replied; B: 100 sent, 20 replied (and one reply twice: counted once).
    for variant, replies in zip(variants, (5, 20), strict=True):
        for n in range(100):
            email = str(uuid.uuid4())
            common = base | {"variant": variant, "email": email, "sent_at": AT}
            await _append(services, common | {"id": email, "type": "sent", "at": AT})
            if n < replies:
                for _ in range(2 if n == 0 else 1):
                    reply = common | {"id": str(uuid.uuid4()), "type": "reply", "at": AT}
                    await _append(services, reply)
            if n < 50:
                opened = common | {"id": str(uuid.uuid4()), "type": "open", "at": AT}
                await _append(services, opened)
    await drain(consumer(services))

    r = await api.get(f"/v1/campaigns/{campaign}/stats", headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    stats = r.json()
    totals = stats["totals"]
    assert (totals["sent"], totals["replied"], totals["replies_total"]) == (200, 25, 27)
    assert totals["opened"] == 100 and stats["rates"]["open_rate"] == 50.0
    assert stats["rates"]["reply_rate"] == 12.5
    assert [(f["step_id"], f["counts"]["sent"]) for f in stats["funnel"]] == [(step, 200)]
    by_id = {v["variant_id"]: v for v in stats["variants"]}
    a, b = by_id[variants[0]], by_id[variants[1]]
    assert (a["sent"], a["replied"], a["reply_rate"]) == (100, 5, 5.0)
    assert (b["sent"], b["replied"], b["reply_rate"]) == (100, 20, 20.0)
    assert b["reply_rate_difference"] == 15.0 and b["significant"] and b["p_value"] < 0.05
    assert b["z"] > 1.96 and a["z"] is None and not a["significant"]
    assert stats["unknown"] == 0

    # The same figures as CSV, parsed back and compared with the JSON.
    r = await api.get(f"/v1/campaigns/{campaign}/stats.csv", headers=tenant_a.auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="campaign-{campaign}-stats.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["row"] for row in rows] == ["total", "step", "variant", "variant"]
    total, funnel_row = rows[0], rows[1]
    for name, value in [*stats["totals"].items(), *stats["rates"].items()]:
        assert float(total[name]) == value, name
    funnel = stats["funnel"][0]
    assert funnel_row["step_id"] == step and int(funnel_row["step_order"]) == funnel["step_order"]
    for name, value in [*funnel["counts"].items(), *funnel["rates"].items()]:
        assert float(funnel_row[name]) == value, name
    for row in rows[2:]:
        v = by_id[row["variant_id"]]
        assert (int(row["sent"]), int(row["replied"])) == (v["sent"], v["replied"])
        assert float(row["reply_rate"]) == v["reply_rate"]
        assert float(row["reply_rate_difference"]) == v["reply_rate_difference"]
        assert row["significant"] == ("true" if v["significant"] else "false")
        assert row["z"] == ("" if v["z"] is None else str(v["z"]))
        assert row["opened"] == ""  # a variant row carries its reply figures only
    # A label that a spreadsheet would run as a formula is written as text, quoted.
    labels = {row["variant_label"] for row in rows[2:]}
    assert "'" + '=HYPERLINK("x"), B' in labels
    assert '"\'=HYPERLINK(""x""), B"' in r.text

    # One outbox row whose outcome nobody can tell: shown apart.
    await admin_conn.execute(
        "INSERT INTO inbox_message_refs (id, tenant_id, email_account_id, campaign_id, direction, "
        "message_id, status) VALUES (gen_random_uuid(), $1, $2, $3, 'outbound', $4, 'unknown')",
        uuid.UUID(tenant_a.tenant_id),
        s.mailbox_id,
        uuid.UUID(campaign),
        f"<{uuid.uuid4()}@send.test>",
    )
    r = await api.get(f"/v1/campaigns/{campaign}/stats", headers=tenant_a.auth)
    assert r.json()["unknown"] == 1

    # Another tenant's campaign: 404, exactly as one that does not exist.
    r = await api.get(f"/v1/campaigns/{campaign}/stats", headers=tenant_b.auth)
    assert r.status_code == 404
    r = await api.get(f"/v1/campaigns/{campaign}/stats.csv", headers=tenant_b.auth)
    assert r.status_code == 404


async def test_a_reply_and_a_bounce_read_from_the_mailbox_are_in_the_stats_at_once(
    api: httpx.AsyncClient,
    services: Services,
    tenant_a: Tenant,
    admin_conn: asyncpg.Connection,
    secret_store: SecretStore,
    settings: Settings,
    dovecot: Dovecot,
) -> None:
    """Inbound rows move the roll-ups as they are recorded, as tracking events do: no
    consumer batch and no reconcile runs between the poll and the stats. Recording the
    same messages again moves nothing."""
    db = services.db
    world = await inbound_world(
        db,
        secret_store,
        settings,
        admin_conn,
        dovecot,
        leads=4,
        tenant_id=uuid.UUID(tenant_a.tenant_id),
    )
    campaign = str(world.campaign_id)
    for (ref, message_id), (lead, _) in zip(world.sent, world.leads, strict=True):
        sent_at = await admin_conn.fetchval(
            "SELECT sent_at FROM inbox_message_refs WHERE id = $1", ref
        )
        fields = {
            "id": str(ref),
            "type": "sent",
            "tenant": tenant_a.tenant_id,
            "campaign": campaign,
            "step": str(world.step_id),
            "mailbox": str(world.mailbox_id),
            "lead": str(lead),
            "message_id": message_id,
            "at": sent_at.isoformat(),
        }
        await _append(services, fields)
    await drain(consumer(services))  # the four sends, as the send activity appends them

    async def totals() -> dict[str, int]:
        r = await api.get(f"/v1/campaigns/{campaign}/stats", headers=tenant_a.auth)
        assert r.status_code == 200, r.text
        return dict(r.json()["totals"])

    before = await totals()
    assert (before["sent"], before["replied"], before["bounced"]) == (4, 0, 0)

    (_, a0), (_, a1), *_ = world.leads
    (_, m0), (_, m1), *_ = world.sent
    box = world.mailbox
    reply = samples.human_reply(m0, a0, box, "Sounds good, call me.")
    bounce = samples.postfix_dsn(m1, a1, box)
    dovecot.deliver(box, reply)
    dovecot.deliver(box, bounce)
    poll = PollInboxInput(str(world.tenant_id), str(world.mailbox_id))
    out = await ActivityEnvironment().run(
        InboundActivities(db, secret_store).poll_mailbox_inbox, poll
    )
    assert out.recorded == 2

    after = await totals()  # no consumer cycle, no reconcile since the poll
    assert (after["sent"], after["replied"], after["replies_total"]) == (4, 1, 1)
    assert after["bounced"] == 1
    r = await api.get(f"/v1/campaigns/{campaign}/stats", headers=tenant_a.auth)
    assert r.json()["rates"]["reply_rate"] == 25.0

    # The same messages recorded again (a webhook posting what the poll read): no change.
    for raw in (reply, bounce):
        again = await record_inbound(db, world.tenant_id, world.mailbox_id, raw)
        assert not again.created
    assert await totals() == after
