"""The SQLModel tables mirror what the hand-written migrations create: the same tables in
each database, the same columns with the same types and nullability, keys and foreign
keys (checks, partial indexes and policies live in the migrations only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import ForeignKeyConstraint, MetaData, PrimaryKeyConstraint, UniqueConstraint
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel

import penguinmails.models  # noqa: F401  (registers every table)
from penguinmails.models.analytics import AnalyticsModel
from penguinmails.settings import Settings, asyncpg_dsn

DIALECT = postgresql.dialect()
ON_DELETE = {None: "a", "NO ACTION": "a", "CASCADE": "c", "SET NULL": "n", "RESTRICT": "r"}


def _type(sql_type: str) -> str:
    # A column's collation is not part of `format_type`: compared as its base type.
    normal = sql_type.lower().replace(" ", "").split("collate")[0]
    return "text" if normal in ("varchar", "charactervarying") else normal


@pytest.fixture(params=["oltp", "analytics"])
async def database(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[tuple[MetaData, asyncpg.Connection]]:
    analytics = request.param == "analytics"
    url = settings.analytics_database_url if analytics else settings.database_url
    assert url
    conn = await asyncpg.connect(asyncpg_dsn(url))
    yield (AnalyticsModel.metadata if analytics else SQLModel.metadata), conn
    await conn.close()


async def _catalog(conn: asyncpg.Connection) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for r in await conn.fetch(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'alembic_version'
        """
    ):
        table = tables.setdefault(r["relname"], {"columns": {}, "constraints": {}})
        table["columns"][r["attname"]] = (_type(r["type"]), not r["attnotnull"])
    for r in await conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, c.conname, c.contype::text AS contype,
               c.confrelid::regclass::text AS parent, c.confdeltype::text AS on_delete,
               ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')
        """
    ):
        if r["tbl"] in tables:
            detail = (r["parent"], r["on_delete"]) if r["contype"] == "f" else None
            tables[r["tbl"]]["constraints"][(r["contype"], tuple(r["cols"]))] = detail
    return tables


async def test_models_match_the_migrated_schema(
    database: tuple[MetaData, asyncpg.Connection],
) -> None:
    metadata, conn = database
    catalog = await _catalog(conn)
    assert sorted(metadata.tables) == sorted(catalog), "tables of the models vs. the database"
    failures = []
    for name, table in sorted(metadata.tables.items()):
        db = catalog[name]
        model_columns = {
            c.name: (_type(c.type.compile(dialect=DIALECT)), bool(c.nullable))
            for c in table.columns
        }
        if model_columns != db["columns"]:
            diff = set(model_columns.items()) ^ set(db["columns"].items())
            failures.append(f"{name}: columns differ: {sorted(diff)}")
        for constraint in table.constraints:
            expected: tuple[str, str] | None = None
            if isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint):
                kind = "p" if isinstance(constraint, PrimaryKeyConstraint) else "u"
                key = (kind, tuple(c.name for c in constraint.columns))
            elif isinstance(constraint, ForeignKeyConstraint):
                ondelete = (constraint.ondelete or "").split(" (")[0] or None
                key = ("f", tuple(constraint.column_keys))
                expected = (constraint.referred_table.name, ON_DELETE[ondelete])
            else:
                continue
            if key not in db["constraints"]:
                failures.append(f"{name}: {key} declared by the model, not in the database")
            elif db["constraints"][key] != expected:
                failures.append(
                    f"{name}: {key} is {db['constraints'][key]} in the database, {expected} in the model"
                )
    assert not failures, "\n".join(failures)
