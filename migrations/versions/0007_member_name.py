"""`tenant_users.name`: the name a tenant gives its member, seen by that tenant only.

`users` is global: a name one tenant wrote there was shown to every other tenant that
invited the same address. Each membership now keeps its own. A user's global name was only
ever written by an invitation, so it moves to the membership when the user has exactly one
(the tenant that wrote it); with several, which tenant wrote it is unknown and no membership
gets it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE tenant_users ADD COLUMN name text")
    op.execute(
        "UPDATE tenant_users tu SET name = u.name FROM users u "
        "WHERE u.id = tu.user_id AND u.name IS NOT NULL "
        "AND (SELECT count(*) FROM tenant_users o WHERE o.user_id = tu.user_id) = 1"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE tenant_users DROP COLUMN name")
