"""Inbound mail: what the classifier said about each inbound message, the reply inbox's
read state, and each mailbox's IMAP checkpoint.

- `inbox_message_refs` gains `classification` (reply, auto_reply, bounce, complaint,
  unsubscribe, unclassified) and its `classification_reason`; a reply's `category` with its
  `category_confidence` and `category_source` (`rules`, or `tenant` once re-labelled);
  `read_at` (the inbox's unread filter). An index serves the inbox's newest-first keyset.
- `mailbox_inbox_checkpoints`: per mailbox and folder, the IMAP UIDVALIDITY and the last
  UID processed; a changed UIDVALIDITY restarts the folder from the beginning (messages
  already stored are recognised by their Message-ID).

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, UUID

from migrations.rls import enable_tenant_rls

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("reply", "auto_reply", "bounce", "complaint", "unsubscribe", "unclassified")
CATEGORIES = (
    "interested",
    "not_interested",
    "meeting_request",
    "out_of_office",
    "wrong_person",
    "unsubscribe",
)
CATEGORY_SOURCES = ("rules", "tenant")


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    table = "inbox_message_refs"
    op.add_column(table, sa.Column("classification", sa.Text(), nullable=True))
    op.add_column(table, sa.Column("classification_reason", sa.Text(), nullable=True))
    op.add_column(table, sa.Column("category", sa.Text(), nullable=True))
    op.add_column(table, sa.Column("category_confidence", DOUBLE_PRECISION(), nullable=True))
    op.add_column(table, sa.Column("category_source", sa.Text(), nullable=True))
    op.add_column(table, sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
    for column, values in (
        ("classification", KINDS),
        ("category", CATEGORIES),
        ("category_source", CATEGORY_SOURCES),
    ):
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{column} "
            f"CHECK ({column} IS NULL OR {column} IN ({_in(values)}))"
        )
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_category_confidence "
        "CHECK (category_confidence IS NULL OR category_confidence BETWEEN 0 AND 1)"
    )
    op.execute(
        f"CREATE INDEX idx_{table}_inbound_created ON {table} "
        "(tenant_id, created DESC, id DESC) WHERE direction = 'inbound'"
    )
    op.execute(
        f"CREATE INDEX idx_{table}_parent ON {table} (tenant_id, parent_message_id) "
        "WHERE parent_message_id IS NOT NULL"
    )
    # Sender-and-subject matching of a reply whose client dropped its threading headers.
    op.execute(
        f"CREATE INDEX idx_{table}_outbound_to ON {table} (tenant_id, lower(to_email)) "
        "WHERE direction = 'outbound'"
    )

    name = "mailbox_inbox_checkpoints"
    op.create_table(
        name,
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email_account_id", UUID(as_uuid=True), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False, server_default="INBOX"),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column(
            "created", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("tenant_id", "id", name=f"uq_{name}_tenant_id_id"),
        sa.UniqueConstraint(
            "tenant_id", "email_account_id", "folder", name=f"uq_{name}_account_folder"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{name}_tenant", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "email_account_id"],
            ["email_accounts.tenant_id", "email_accounts.id"],
            name=f"fk_{name}_email_account",
            ondelete="CASCADE",
        ),
    )
    enable_tenant_rls(name)


def downgrade() -> None:
    op.drop_table("mailbox_inbox_checkpoints")
    table = "inbox_message_refs"
    for index in ("inbound_created", "parent", "outbound_to"):
        op.execute(f"DROP INDEX IF EXISTS idx_{table}_{index}")
    for column in (
        "read_at",
        "category_source",
        "category_confidence",
        "category",
        "classification_reason",
        "classification",
    ):
        op.drop_column(table, column)
