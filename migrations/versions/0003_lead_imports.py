"""Lead imports: the import record and its per-chunk ledger; lead flags, list workspaces
and which import put a lead into a list. Decisions: docs/schema.md ("Lead imports").

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from migrations.rls import enable_tenant_rls

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IMPORT_STATUSES = ("running", "completed", "failed")
ON_DUPLICATE = ("skip", "update")
COUNTS = ("rows_total", "accepted", "rejected", "duplicates", "suppressed", "existing")


def _uuid(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UUID(as_uuid=True), nullable=nullable)


def _text(name: str, nullable: bool = True, default: str | None = None) -> sa.Column:
    return sa.Column(
        name, sa.Text(), nullable=nullable if default is None else False, server_default=default
    )


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _in(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"ck_{table}_{column}")


def _fk(
    table: str, column: str, parent: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{parent}.tenant_id", f"{parent}.id"],
        name=f"fk_{table}_{column.removesuffix('_id')}",
        ondelete=ondelete,
    )


def _tenant_table(name: str, *items: sa.Column | sa.Constraint) -> None:
    op.create_table(
        name,
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        _uuid("tenant_id", nullable=False),
        *items,
        sa.UniqueConstraint("tenant_id", "id", name=f"uq_{name}_tenant_id_id"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{name}_tenant", ondelete="CASCADE"
        ),
    )
    enable_tenant_rls(name)


def upgrade() -> None:
    # Flags set at import; the lead stays sendable, the tenant decides.
    for column in ("role_account", "disposable_domain"):
        op.add_column(
            "leads", sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # A list belongs to one workspace (company) or, when NULL, to the whole tenant.
    op.add_column("lead_lists", _uuid("company_id"))
    op.create_foreign_key(
        "fk_lead_lists_company",
        "lead_lists",
        "companies",
        ["tenant_id", "company_id"],
        ["tenant_id", "id"],
        ondelete="SET NULL (company_id)",
    )
    op.execute("CREATE INDEX idx_lead_lists_company_id ON lead_lists (tenant_id, company_id)")

    _tenant_table(
        "lead_imports",
        _uuid("lead_list_id", nullable=False),
        _text("status", default="running"),
        _text("on_duplicate", default="skip"),
        _text("original_filename"),
        # The stored upload: parts `<key>/<n>` in content_objects (see docs/schema.md).
        _text("content_storage_key", nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        _text("encoding", default="utf-8"),
        sa.Column("mapping", JSONB(), nullable=False, server_default="{}"),
        sa.Column("chunk_rows", sa.Integer(), nullable=False, server_default="20000"),
        # The optional MX check (off by default): rows of domains without mail reject.
        sa.Column("check_mx", sa.Boolean(), nullable=False, server_default=sa.false()),
        *(_count(c) for c in COUNTS),
        _text("error"),
        _uuid("created_by"),
        _now("created"),
        _now("updated"),
        sa.Column("completed", sa.DateTime(timezone=True), nullable=True),
        _fk("lead_imports", "lead_list_id", "lead_lists", ondelete="CASCADE"),
        _in("lead_imports", "status", IMPORT_STATUSES),
        _in("lead_imports", "on_duplicate", ON_DUPLICATE),
        sa.CheckConstraint("chunk_rows > 0", name="ck_lead_imports_chunk_rows"),
    )
    op.execute(
        "CREATE INDEX idx_lead_imports_lead_list_id_recent "
        "ON lead_imports (tenant_id, lead_list_id, created DESC)"
    )

    # The ledger: one row per committed chunk, written in the chunk's own transaction, so a
    # retried or resumed chunk finds it and changes nothing.
    _tenant_table(
        "lead_import_chunks",
        _uuid("import_id", nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("first_line", sa.BigInteger(), nullable=False),
        sa.Column("end_line", sa.BigInteger(), nullable=False),
        sa.Column("end_offset", sa.BigInteger(), nullable=False),
        sa.Column("eof", sa.Boolean(), nullable=False, server_default=sa.false()),
        *(_count(c) for c in COUNTS),
        _now("created"),
        sa.UniqueConstraint(
            "tenant_id", "import_id", "chunk_no", name="uq_lead_import_chunks_import_chunk"
        ),
        _fk("lead_import_chunks", "import_id", "lead_imports", ondelete="CASCADE"),
        sa.CheckConstraint("chunk_no >= 0", name="ck_lead_import_chunks_chunk_no"),
    )

    # Which import last put the lead into the list: a repeat of an address in a later chunk
    # of the same import is a duplicate, with no per-import set kept in memory.
    # No foreign key: a marker only the import's own statements read, and each foreign-key
    # check is a trigger per inserted membership (docs/schema.md).
    op.add_column("lead_list_members", _uuid("import_id"))
    # Keyset pages of leads (GET /v1/leads); an e-mail prefix uses uq_leads_email_live.
    op.execute("CREATE INDEX idx_leads_created_page ON leads (tenant_id, created, id)")


def downgrade() -> None:
    op.execute("DROP INDEX idx_leads_created_page")
    op.drop_column("lead_list_members", "import_id")
    op.drop_table("lead_import_chunks")
    op.drop_table("lead_imports")
    op.execute("DROP INDEX idx_lead_lists_company_id")
    op.drop_constraint("fk_lead_lists_company", "lead_lists", type_="foreignkey")
    op.drop_column("lead_lists", "company_id")
    for column in ("disposable_domain", "role_account"):
        op.drop_column("leads", column)
