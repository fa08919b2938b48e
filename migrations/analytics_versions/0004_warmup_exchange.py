"""Warmup exchanges: each interaction names the warmup message it is about, once.

`warmup_interactions.message_id` with a unique key per (tenant, mailbox, type, message):
an exchange round that is retried after a crash records nothing twice, and
`warmup_daily_stats` moves only for the rows actually inserted. `rescued_from_spam` on the
daily stats counts the warmup messages a mailbox's partners found in their spam folders
(the reputation score weighs them).

Revision ID: a0004
Revises: a0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0004"
down_revision: str | None = "a0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("warmup_interactions", sa.Column("message_id", sa.Text(), nullable=True))
    op.create_unique_constraint(
        "uq_warmup_interactions_message",
        "warmup_interactions",
        ["tenant_id", "mailbox_id", "interaction_type", "message_id"],
    )
    op.add_column(
        "warmup_daily_stats",
        sa.Column("rescued_from_spam", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("warmup_daily_stats", "rescued_from_spam")
    op.drop_constraint("uq_warmup_interactions_message", "warmup_interactions")
    op.drop_column("warmup_interactions", "message_id")
