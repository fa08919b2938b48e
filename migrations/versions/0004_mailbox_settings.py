"""Mailboxes: per-mailbox sending settings, the last login test, `pending`/`unreachable`.

- `min_gap_seconds` + `gap_jitter_seconds`: the least time between two sends of a mailbox,
  plus a random 0..jitter on top (the engine draws it in an activity);
- `sending_window`: the mailbox's default window (`{"start": "09:00", "end": "17:00",
  "days": [1, 2, 3, 4, 5]}`, ISO weekdays, in `timezone`), a campaign may narrow it;
- `signature`: HTML appended to each message;
- `last_tested_at`, `last_test_result`: what `POST /v1/email-accounts/{id}/test` found
  (`{"smtp": {"ok", "detail"}, "imap": {...}}`);
- statuses `pending` (never tested) and `unreachable` (the server did not answer).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("active", "warming", "paused", "authentication_failed", "suspended", "deleted")
NEW_STATUSES = (*OLD_STATUSES, "pending", "unreachable")


def _status_check(values: Sequence[str]) -> None:
    allowed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(
        "ck_email_accounts_status", "email_accounts", f"status IN ({allowed})"
    )


def upgrade() -> None:
    op.add_column(
        "email_accounts",
        sa.Column("min_gap_seconds", sa.Integer(), nullable=False, server_default="60"),
    )
    op.add_column(
        "email_accounts",
        sa.Column("gap_jitter_seconds", sa.Integer(), nullable=False, server_default="30"),
    )
    op.add_column(
        "email_accounts", sa.Column("sending_window", JSONB(), nullable=False, server_default="{}")
    )
    op.add_column("email_accounts", sa.Column("signature", sa.Text(), nullable=True))
    op.add_column(
        "email_accounts", sa.Column("last_tested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "email_accounts",
        sa.Column("last_test_result", JSONB(), nullable=False, server_default="{}"),
    )
    op.create_check_constraint(
        "ck_email_accounts_min_gap_seconds", "email_accounts", "min_gap_seconds >= 0"
    )
    op.create_check_constraint(
        "ck_email_accounts_gap_jitter_seconds", "email_accounts", "gap_jitter_seconds >= 0"
    )
    op.drop_constraint("ck_email_accounts_status", "email_accounts", type_="check")
    _status_check(NEW_STATUSES)


def downgrade() -> None:
    op.drop_constraint("ck_email_accounts_status", "email_accounts", type_="check")
    op.execute(
        "UPDATE email_accounts SET status = 'paused' WHERE status IN ('pending', 'unreachable')"
    )
    _status_check(OLD_STATUSES)
    op.drop_constraint("ck_email_accounts_gap_jitter_seconds", "email_accounts", type_="check")
    op.drop_constraint("ck_email_accounts_min_gap_seconds", "email_accounts", type_="check")
    for column in (
        "last_test_result",
        "last_tested_at",
        "signature",
        "sending_window",
        "gap_jitter_seconds",
        "min_gap_seconds",
    ):
        op.drop_column("email_accounts", column)
