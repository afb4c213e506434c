"""The usage row of a request, as one INSERT that ledger.settle can run in its own statement.

Raw SQL on purpose: this is the hot path, and on PostgreSQL the row is written by the same
statement that settles the hold (billing/pg.py), so both land together or not at all. The
SQL runs unchanged on SQLite (ON CONFLICT needs SQLite ≥ 3.24)."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection

from gateway.models import UsageRecord

COLUMNS = (
    "request_id", "user_id", "api_key_id", "endpoint", "model_slug", "provider_slug",
    "status", "http_status", "stream", "input_tokens", "cached_input_tokens",
    "output_tokens", "units", "estimated", "held_micros", "charged_micros", "wholesale_micros",
    "failovers", "latency_ms", "ttfb_ms", "created_at",
)  # fmt: skip


@cache
def _insert_sql() -> str:
    """Built once per process: this runs on every request."""
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    names = ", ".join(COLUMNS)
    if connection.vendor == "postgresql":
        # Typed, for server-side binding (billing/pg.py prepares the settle it rides in).
        placeholders = ", ".join(f"CAST(%(u_{c})s AS {_db_type(c)})" for c in COLUMNS)
    else:
        placeholders = ", ".join(f"%(u_{c})s" for c in COLUMNS)
    # Table and column names are our constants; every value is a bound parameter.
    sql = f"INSERT INTO {table} ({names}) SELECT {placeholders} {{guard}}"  # noqa: S608
    return sql + " ON CONFLICT (request_id) DO NOTHING"


def _db_type(column: str) -> str:
    """The column's type for a CAST; varchar without its length, which a CAST would truncate
    to (the column itself still refuses a value that is too long)."""
    field = next(f for f in UsageRecord._meta.concrete_fields if f.column == column)
    db_type = field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
    return db_type.split("(")[0] if db_type.startswith("varchar") else db_type


def insert_statement(values: dict[str, object]) -> tuple[str, dict[str, object]]:
    """The INSERT for one usage row (`values` from `row()`); a second one for the same
    request id adds nothing.

    Written as INSERT … SELECT … {guard} so that ledger.settle can make it conditional on
    the settle itself; run it alone with `standalone()`."""
    return _insert_sql(), {f"u_{c}": values[c] for c in COLUMNS}


def standalone(statement: tuple[str, dict[str, object]]) -> tuple[str, dict[str, object]]:
    """The statement for use on its own (SQLite needs a WHERE before ON CONFLICT here)."""
    sql, params = statement
    return sql.replace("{guard}", "WHERE 1 = 1"), params


def row(
    *,
    request_id: str,
    user_id: int,
    api_key_id: int | None,
    endpoint: str,
    model_slug: str,
    provider_slug: str,
    status: str,
    http_status: int,
    stream: bool,
    input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
    units: int,
    estimated: bool,
    held_micros: int,
    charged_micros: int,
    failovers: int,
    wholesale_micros: int = 0,
    latency_ms: int,
    ttfb_ms: int | None,
    created_at: datetime,
) -> dict[str, object]:
    return dict(locals())
