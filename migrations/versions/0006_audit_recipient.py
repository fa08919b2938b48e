"""`audit_logs.actor_type` gains `recipient`: the person an e-mail went to, acting through a
signed public link (an unsubscribe) or, later, a reply. Until now such rows said `system`
with `details.actor = recipient`; they are rewritten.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("user", "api_key", "staff", "system", "workflow")
NEW = (*OLD, "recipient")


def _check(values: Sequence[str]) -> None:
    allowed = ", ".join(f"'{v}'" for v in values)
    op.execute("ALTER TABLE audit_logs DROP CONSTRAINT ck_audit_logs_actor_type")
    op.execute(
        f"ALTER TABLE audit_logs ADD CONSTRAINT ck_audit_logs_actor_type "
        f"CHECK (actor_type IN ({allowed}))"
    )


def upgrade() -> None:
    _check(NEW)
    op.execute(
        "UPDATE audit_logs SET actor_type = 'recipient', details = details - 'actor' "
        "WHERE actor_type = 'system' AND details->>'actor' = 'recipient'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE audit_logs SET actor_type = 'system', "
        "details = details || '{\"actor\": \"recipient\"}'::jsonb WHERE actor_type = 'recipient'"
    )
    _check(OLD)
