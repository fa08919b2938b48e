"""The campaign engine's schema: the mailboxes a campaign rotates over, A/B variants of a
step, the enrollment table, pause reasons, and the counters and outbox columns of the
revised outbox contract (DESIGN "Outbox", "Capacity", "Enrollment", "Pause reasons").

- `campaign_mailboxes`: the mailboxes a campaign rotates first touches over, with a weight.
- `campaign_step_variants`: 2-5 variants of an e-mail step (subject and/or template), with
  weights; a lead's variant comes from one deterministic draw kept on its enrollment.
- `campaign_leads`: each lead's place in a campaign (status, last step done, sticky mailbox,
  the variant draw, next action time, the reason of the last skip). Workflows page it with
  keyset cursors; lead ids never travel in workflow state.
- `campaigns.pause_reasons`, `email_accounts.pause_reasons`: paused while any reason holds
  (`user`, `billing`, `breaker`, `suspension`); each actor lifts only its own.
- `email_accounts.next_send_at`: the mailbox's minimum gap across every worker.
- `campaign_daily_counters`, `tenant_monthly_counters`: the campaign's daily limit and the
  tenant's sends per calendar month, taken in the reserve step like the mailbox's day.
- `inbox_message_refs`: `deferred` (a send that never reached DATA, to be reserved again),
  the slot keys a give-back returns (`slot_day` of the mailbox, `campaign_day`,
  `slot_month`), `variant_id`, `is_test` (test sends stay outside the (campaign, lead, step)
  key and every statistic) and `attempts`.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from migrations.rls import enable_tenant_rls

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAUSE_REASONS = ("user", "billing", "breaker", "suspension")
ENROLLMENT_STATUSES = (
    "pending",  # enrolled, its workflow not started yet (the sliding window)
    "active",  # its sequence workflow runs
    "paused",  # paused for this lead alone
    "completed",  # every step done
    "replied",
    "unsubscribed",
    "bounced",
    "complained",
    "stopped",  # ended by the campaign's cancel, an erasure or stop-for-company
    "removed",  # taken out of the campaign by the tenant
    "failed",
)
OLD_MESSAGE_STATUSES = (
    "queued",
    "reserved",
    "sent",
    "delivered",
    "bounced",
    "failed",
    "unknown",
    "opened",
    "replied",
    "received",
)
MESSAGE_STATUSES = (*OLD_MESSAGE_STATUSES, "deferred")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _stamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


def _tenant_table(name: str, *items: sa.Column | sa.Constraint) -> None:
    op.create_table(
        name,
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        *items,
        *_stamps(),
        sa.UniqueConstraint("tenant_id", "id", name=f"uq_{name}_tenant_id_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{name}_tenant", ondelete="CASCADE"
        ),
    )
    enable_tenant_rls(name)


def _fk(
    table: str, column: str, parent: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{parent}.tenant_id", f"{parent}.id"],
        name=f"fk_{table}_{column.removesuffix('_id')}",
        ondelete=ondelete,
    )


def _reasons_column() -> sa.Column:
    return sa.Column("pause_reasons", ARRAY(sa.Text()), nullable=False, server_default="{}")


def _reasons_check(table: str) -> None:
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_pause_reasons "
        f"CHECK (pause_reasons <@ ARRAY[{_in(PAUSE_REASONS)}]::text[])"
    )


def upgrade() -> None:
    # --- pause reasons, the campaign's switches, the mailbox's gap ---------------------------
    op.add_column("campaigns", _reasons_column())
    _reasons_check("campaigns")
    op.add_column(
        "campaigns",
        sa.Column("stop_on_reply", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "campaigns",
        sa.Column("stop_for_company", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "campaigns",
        sa.Column("tracking_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "campaigns", sa.Column("timezone", sa.Text(), nullable=False, server_default="UTC")
    )
    op.add_column("email_accounts", _reasons_column())
    _reasons_check("email_accounts")
    op.add_column(
        "email_accounts", sa.Column("next_send_at", sa.DateTime(timezone=True), nullable=True)
    )

    # --- the mailboxes a campaign rotates over -----------------------------------------------
    _tenant_table(
        "campaign_mailboxes",
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email_account_id", UUID(as_uuid=True), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False, server_default="1"),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "email_account_id",
            name="uq_campaign_mailboxes_campaign_account",
        ),
        _fk("campaign_mailboxes", "campaign_id", "campaigns", ondelete="CASCADE"),
        _fk("campaign_mailboxes", "email_account_id", "email_accounts"),
        sa.CheckConstraint("weight >= 1 AND weight <= 100", name="ck_campaign_mailboxes_weight"),
    )
    op.execute(
        "CREATE INDEX idx_campaign_mailboxes_account "
        "ON campaign_mailboxes (tenant_id, email_account_id)"
    )

    # --- A/B variants ------------------------------------------------------------------------
    _tenant_table(
        "campaign_step_variants",
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("step_id", UUID(as_uuid=True), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("template_id", UUID(as_uuid=True), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.UniqueConstraint(
            "tenant_id", "step_id", "position", name="uq_campaign_step_variants_step_position"
        ),
        _fk("campaign_step_variants", "campaign_id", "campaigns", ondelete="CASCADE"),
        _fk("campaign_step_variants", "step_id", "campaign_sequence_steps", ondelete="CASCADE"),
        _fk("campaign_step_variants", "template_id", "templates"),
        sa.CheckConstraint(
            "weight >= 1 AND weight <= 1000", name="ck_campaign_step_variants_weight"
        ),
        sa.CheckConstraint(
            "position >= 1 AND position <= 5", name="ck_campaign_step_variants_position"
        ),
    )

    # --- enrollment ----------------------------------------------------------------------------
    _tenant_table(
        "campaign_leads",
        sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("current_step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("email_account_id", UUID(as_uuid=True), nullable=True),
        sa.Column("variant_draw", sa.Float(), nullable=False),
        sa.Column("next_action_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_skip_reason", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint(
            "tenant_id", "campaign_id", "lead_id", name="uq_campaign_leads_campaign_lead"
        ),
        _fk("campaign_leads", "campaign_id", "campaigns", ondelete="CASCADE"),
        _fk("campaign_leads", "lead_id", "leads", ondelete="CASCADE"),
        _fk("campaign_leads", "email_account_id", "email_accounts"),
        sa.CheckConstraint(
            f"status IN ({_in(ENROLLMENT_STATUSES)})", name="ck_campaign_leads_status"
        ),
        sa.CheckConstraint("current_step >= 0", name="ck_campaign_leads_current_step"),
        sa.CheckConstraint(
            "variant_draw >= 0 AND variant_draw < 1", name="ck_campaign_leads_variant_draw"
        ),
    )
    # The campaign workflow's keyset cursor over leads still to start; the API's pages.
    op.execute(
        "CREATE INDEX idx_campaign_leads_campaign_status_id "
        "ON campaign_leads (tenant_id, campaign_id, status, id)"
    )
    # "Is this lead active in another campaign?" at enrollment.
    op.execute(
        "CREATE INDEX idx_campaign_leads_lead_active ON campaign_leads (tenant_id, lead_id) "
        "WHERE status IN ('pending', 'active', 'paused')"
    )

    # --- the counters every reservation takes ------------------------------------------------
    for table, key, key_type in (
        ("campaign_daily_counters", "campaign_id", "day"),
        ("tenant_monthly_counters", None, "month"),
    ):
        items: list[sa.Column | sa.Constraint] = []
        unique = ["tenant_id"]
        if key:
            items.append(sa.Column(key, UUID(as_uuid=True), nullable=False))
            items.append(_fk(table, key, "campaigns", ondelete="CASCADE"))
            unique.append(key)
        unique.append(key_type)
        _tenant_table(
            table,
            *items,
            sa.Column(key_type, sa.Date(), nullable=False),
            sa.Column("sent_count", sa.Integer(), nullable=False, server_default="0"),
            sa.UniqueConstraint(*unique, name=f"uq_{table}_{'_'.join(unique[1:])}"),
            sa.CheckConstraint("sent_count >= 0", name=f"ck_{table}_sent_count"),
        )

    # --- the outbox ----------------------------------------------------------------------------
    op.add_column("inbox_message_refs", sa.Column("variant_id", UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(
        "fk_inbox_message_refs_variant",
        "inbox_message_refs",
        "campaign_step_variants",
        ["tenant_id", "variant_id"],
        ["tenant_id", "id"],
    )
    op.add_column(
        "inbox_message_refs",
        sa.Column("is_test", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("inbox_message_refs", sa.Column("slot_day", sa.Date(), nullable=True))
    op.add_column("inbox_message_refs", sa.Column("campaign_day", sa.Date(), nullable=True))
    op.add_column("inbox_message_refs", sa.Column("slot_month", sa.Date(), nullable=True))
    op.add_column(
        "inbox_message_refs",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("ALTER TABLE inbox_message_refs DROP CONSTRAINT ck_inbox_message_refs_status")
    op.execute(
        "ALTER TABLE inbox_message_refs ADD CONSTRAINT ck_inbox_message_refs_status "
        f"CHECK (status IN ({_in(MESSAGE_STATUSES)}))"
    )
    # Test sends stay outside the (campaign, lead, step) key.
    op.execute("DROP INDEX uq_inbox_message_refs_campaign_lead_step")
    op.execute(
        "CREATE UNIQUE INDEX uq_inbox_message_refs_campaign_lead_step ON inbox_message_refs "
        "(tenant_id, campaign_id, lead_id, step_id) WHERE direction = 'outbound' AND NOT is_test"
    )
    op.execute("DROP INDEX idx_inbox_message_refs_status_unresolved")
    op.execute(
        "CREATE INDEX idx_inbox_message_refs_status_unresolved ON inbox_message_refs "
        "(tenant_id, status) WHERE status IN ('reserved', 'unknown', 'deferred')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX idx_inbox_message_refs_status_unresolved")
    op.execute(
        "CREATE INDEX idx_inbox_message_refs_status_unresolved ON inbox_message_refs "
        "(tenant_id, status) WHERE status IN ('reserved', 'unknown')"
    )
    op.execute("DELETE FROM inbox_message_refs WHERE is_test")
    op.execute("DROP INDEX uq_inbox_message_refs_campaign_lead_step")
    op.execute(
        "CREATE UNIQUE INDEX uq_inbox_message_refs_campaign_lead_step ON inbox_message_refs "
        "(tenant_id, campaign_id, lead_id, step_id) WHERE direction = 'outbound'"
    )
    op.execute("UPDATE inbox_message_refs SET status = 'failed' WHERE status = 'deferred'")
    op.execute("ALTER TABLE inbox_message_refs DROP CONSTRAINT ck_inbox_message_refs_status")
    op.execute(
        "ALTER TABLE inbox_message_refs ADD CONSTRAINT ck_inbox_message_refs_status "
        f"CHECK (status IN ({_in(OLD_MESSAGE_STATUSES)}))"
    )
    for column in ("attempts", "slot_month", "campaign_day", "slot_day", "is_test"):
        op.drop_column("inbox_message_refs", column)
    op.drop_constraint("fk_inbox_message_refs_variant", "inbox_message_refs")
    op.drop_column("inbox_message_refs", "variant_id")
    for table in (
        "tenant_monthly_counters",
        "campaign_daily_counters",
        "campaign_leads",
        "campaign_step_variants",
        "campaign_mailboxes",
    ):
        op.drop_table(table)
    op.drop_column("email_accounts", "next_send_at")
    op.drop_constraint("ck_email_accounts_pause_reasons", "email_accounts")
    op.drop_column("email_accounts", "pause_reasons")
    for column in ("timezone", "tracking_enabled", "stop_for_company", "stop_on_reply"):
        op.drop_column("campaigns", column)
    op.drop_constraint("ck_campaigns_pause_reasons", "campaigns")
    op.drop_column("campaigns", "pause_reasons")
