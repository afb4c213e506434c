"""Single-statement PostgreSQL versions of the two ledger moves on the request path.

`ledger.reserve` and `ledger.settle` are each one data-modifying CTE here, so a request
pays two round trips to the database instead of a dozen. They do exactly what the ORM code
in billing/ledger.py does (which SQLite uses, and which stays the reference), and the same
tests run against both. Every sub-statement depends on the one before through its RETURNING
rows, and a statement is atomic: either all of it happens or none of it does.

They run as server-side prepared statements (`DB_PREPARED_STATEMENTS`, on by default): the
statement is parsed and planned once per connection, and each request sends only its
parameters. Planning these CTEs costs PostgreSQL more than running them. Every placeholder
carries its type, so a plan never depends on how a value happened to be sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

import psycopg
from django.conf import settings
from django.db import connection
from psycopg.types.numeric import Int8

from accounts.models import ApiKey
from billing.models import CreditAccount, Hold, LedgerEntry


@cache
def _sql(template: str) -> str:
    """A statement with our table names filled in, once per process (the hot path runs it)."""
    return template.format(**_tables(), also="{also}")


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        "account": quote(CreditAccount._meta.db_table),
        "hold": quote(Hold._meta.db_table),
        "entry": quote(LedgerEntry._meta.db_table),
        "key": quote(ApiKey._meta.db_table),
    }


_RESERVE = """
WITH acct AS (
    UPDATE {account}
       SET balance_micros = balance_micros - %(amount)s::bigint, updated_at = %(now)s::timestamptz
     WHERE id = %(account_id)s::bigint AND balance_micros >= %(amount)s::bigint
       AND (%(key_id)s::bigint IS NULL OR EXISTS (
            SELECT 1 FROM {key} k WHERE k.id = %(key_id)s::bigint
               AND (k.spend_cap_micros IS NULL
                    OR k.spent_micros + %(amount)s::bigint <= k.spend_cap_micros)))
 RETURNING balance_micros
), held AS (
    INSERT INTO {hold} (account_id, request_id, amount_micros, charged_micros, state,
                        api_key_id, model_slug, created_at, expires_at, backs_id)
    SELECT %(account_id)s::bigint, %(request_id)s::text, %(amount)s::bigint, 0, 'open',
           %(key_id)s::bigint, %(model)s::text, %(now)s::timestamptz, %(expires)s::timestamptz,
           %(backs)s::bigint
      FROM acct
 RETURNING id
), entry AS (
    INSERT INTO {entry} (account_id, kind, amount_micros, balance_after_micros,
                         idempotency_key, reference, memo, hold_id, created_at)
    SELECT %(account_id)s::bigint, 'hold', -%(amount)s::bigint, acct.balance_micros,
           %(entry_key)s::text, %(request_id)s::text, %(model)s::text, held.id, %(now)s::timestamptz
      FROM acct, held
 RETURNING id
), spent AS (
    UPDATE {key}
       SET spent_micros = spent_micros + %(amount)s::bigint
     WHERE id = %(key_id)s::bigint AND EXISTS (SELECT 1 FROM held)
       AND (spend_cap_micros IS NULL OR spent_micros + %(amount)s::bigint <= spend_cap_micros)
 RETURNING id
)
SELECT (SELECT id FROM held), (SELECT count(*) FROM entry), (SELECT count(*) FROM spent)
"""


def _fetchone(sql: str, params: dict[str, object]) -> tuple:
    """Run one statement on Django's connection with server-side binding, prepared on first
    use (Django's own cursors bind on the client, which cannot be prepared). Errors come out
    as Django's (IntegrityError, ...), and mark the connection as Django's cursors do."""
    connection.ensure_connection()
    # Every int as int8, so that one prepared statement serves every amount.
    params = {k: Int8(v) if type(v) is int else v for k, v in params.items()}
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=settings.DB_PREPARED_STATEMENTS)
        return cursor.fetchone()


def reserve(
    *,
    account_id: int,
    amount_micros: int,
    request_id: str,
    api_key_id: int | None,
    model_slug: str,
    now: datetime,
    expires_at: datetime,
    backs_id: int | None = None,
) -> tuple[int | None, bool]:
    """Debit and hold in one statement. Returns (hold id or None, whether the key's spend
    counter moved). A duplicate request id raises IntegrityError and changes nothing."""
    params = {
        "account_id": account_id,
        "amount": amount_micros,
        "request_id": request_id,
        "key_id": api_key_id,
        "model": model_slug,
        "now": now,
        "expires": expires_at,
        "entry_key": f"hold:{request_id}",
        "backs": backs_id,
    }
    hold_id, _, spent = _fetchone(_sql(_RESERVE), params)
    return hold_id, bool(spent)


_SETTLE = """
WITH claim AS (
    UPDATE {hold}
       SET state = 'settled', charged_micros = %(charged)s::bigint, closed_at = %(now)s::timestamptz
     WHERE id = %(hold_id)s::bigint AND state = 'open'
 RETURNING id, account_id, api_key_id, amount_micros - %(charged)s::bigint AS returned
), acct AS (
    UPDATE {account} a
       SET balance_micros = a.balance_micros + claim.returned, updated_at = %(now)s::timestamptz
      FROM claim
     WHERE a.id = claim.account_id
 RETURNING a.balance_micros
), entry AS (
    INSERT INTO {entry} (account_id, kind, amount_micros, balance_after_micros,
                         idempotency_key, reference, memo, hold_id, created_at)
    SELECT claim.account_id, 'settle', claim.returned, acct.balance_micros,
           %(entry_key)s::text, %(request_id)s::text, %(memo)s::text, claim.id, %(now)s::timestamptz
      FROM claim, acct
 RETURNING id
), spent AS (
    UPDATE {key} k
       SET spent_micros = k.spent_micros - claim.returned
      FROM claim
     WHERE k.id = claim.api_key_id AND claim.returned > 0
 RETURNING k.id
)
{also}
SELECT (SELECT count(*) FROM claim), (SELECT count(*) FROM entry)
"""


def settle(
    *,
    hold: Hold,
    charged_micros: int,
    now: datetime,
    also: Sequence[tuple[str, dict[str, object]]] = (),
) -> bool:
    """Claim an open hold, return its unused part and write the entry, in one statement,
    with the `also` writes (each an INSERT with its own named parameters) in that same
    statement. Returns False when the hold was not open; the ledger then changed nothing."""
    params: dict[str, object] = {
        "hold_id": hold.pk,
        "charged": charged_micros,
        "now": now,
        "entry_key": f"settle:{hold.request_id}",
        "request_id": hold.request_id,
        "memo": f"charged {charged_micros}",
    }
    extra = ""
    for i, (sql, more) in enumerate(also):
        # Only when this statement claimed the hold: a replay or a late settle writes nothing.
        guarded = sql.replace("{guard}", "WHERE EXISTS (SELECT 1 FROM claim)")
        extra += f", also_{i} AS ({guarded})"
        params.update(more)
    claimed, _ = _fetchone(_sql(_SETTLE).replace("{also}", extra), params)
    return claimed == 1
