"""The engine's analytics columns: `bot` on opens and clicks (kept raw, left out of rates and
of the no_open/no_click conditions; the engagement loop fills it), and `variant_id` on the
events of a send so roll-ups key on a step's A/B variant.

Revision ID: a0002
Revises: a0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "a0002"
down_revision: str | None = "a0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_TABLES = (
    "email_sends",
    "email_opens",
    "email_clicks",
    "email_bounces",
    "email_replies",
    "email_complaints",
)


def upgrade() -> None:
    for table in ("email_opens", "email_clicks"):
        op.add_column(
            table, sa.Column("bot", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    for table in EVENT_TABLES:
        op.add_column(table, sa.Column("variant_id", UUID(as_uuid=True), nullable=True))


def downgrade() -> None:
    for table in EVENT_TABLES:
        op.drop_column(table, "variant_id")
    for table in ("email_opens", "email_clicks"):
        op.drop_column(table, "bot")
