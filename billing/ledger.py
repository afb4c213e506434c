"""The only code that moves credits.

Every change is one ledger entry with a unique idempotency key, written in the same
transaction as the balance change, so the balance always equals the sum of the entries.
Calling any function again with the same key changes nothing and returns the first result.
Debits are one conditional UPDATE (`balance >= amount`), so concurrent requests can never
overdraw an account, on PostgreSQL or SQLite alike.

Keys used here: reserve → "hold:<request_id>", settle → "settle:<request_id>",
release → "release:<request_id>"; grants and adjustments take the caller's key (for example
the Stripe object id), which must be unique across the whole ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from accounts.models import ApiKey, User
from billing import pg
from billing.models import CreditAccount, Hold, LedgerEntry

logger = logging.getLogger(__name__)

Kind = LedgerEntry.Kind
CREDIT_KINDS = {Kind.GRANT, Kind.PURCHASE, Kind.SUBSCRIPTION, Kind.REFUND}


class LedgerError(Exception):
    """Base of ledger refusals; messages are safe to show a customer."""


class InsufficientCredits(LedgerError):
    def __init__(self, account_id: int, *, needed_micros: int) -> None:
        super().__init__("Insufficient credits for this request.")
        self.account_id = account_id
        self.needed_micros = needed_micros


class SpendCapReached(LedgerError):
    def __init__(self, key_id: int) -> None:
        super().__init__("This API key has reached its spend cap.")
        self.key_id = key_id


class WholesaleExhausted(LedgerError):
    """A white-label reseller's account cannot cover the wholesale side of a request."""

    def __init__(self, account_id: int, *, needed_micros: int) -> None:
        super().__init__("The reseller's account cannot cover this request.")
        self.account_id = account_id
        self.needed_micros = needed_micros


class HoldNotOpen(LedgerError):
    pass


class ChargeExceedsHold(LedgerError):
    pass


class IdempotencyConflict(LedgerError):
    """The key was already used for a different change."""


def account_for(user: User) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


def _existing(idempotency_key: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()


def _check_replay(
    entry: LedgerEntry, *, account_id: int, amount_micros: int, kind: str
) -> LedgerEntry:
    if (entry.account_id, entry.amount_micros, entry.kind) != (account_id, amount_micros, kind):
        raise IdempotencyConflict(f"Idempotency key {entry.idempotency_key!r} was already used.")
    return entry


def _post(
    account_id: int,
    *,
    amount_micros: int,
    kind: str,
    idempotency_key: str,
    reference: str = "",
    memo: str = "",
    hold: Hold | None = None,
    created_by: User | None = None,
) -> LedgerEntry:
    """Apply a signed amount and write its entry. Caller holds a transaction."""
    balance = _move_balance(account_id, amount_micros)
    if balance is None:
        raise InsufficientCredits(account_id, needed_micros=-amount_micros)
    return LedgerEntry.objects.create(
        account_id=account_id,
        kind=kind,
        amount_micros=amount_micros,
        balance_after_micros=balance,
        idempotency_key=idempotency_key,
        reference=reference[:200],
        memo=memo[:300],
        hold=hold,
        created_by=created_by,
    )


_MOVE_SQL = (
    "UPDATE {table} SET balance_micros = balance_micros + %s, updated_at = %s "
    "WHERE id = %s AND balance_micros + %s >= 0 RETURNING balance_micros"
)


def _move_balance(account_id: int, amount_micros: int) -> int | None:
    """One conditional UPDATE … RETURNING (PostgreSQL and SQLite ≥ 3.35 alike): the new
    balance, or None when the debit would take the account below zero."""
    table = connection.ops.quote_name(CreditAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            _MOVE_SQL.format(table=table),
            [amount_micros, timezone.now(), account_id, amount_micros],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def _post_once(account_id: int, *, amount_micros: int, kind: str, idempotency_key: str, **kw):
    """`_post`, or the earlier entry when this key was already used for the same change."""
    earlier = _existing(idempotency_key)
    if earlier is not None:
        return _check_replay(earlier, account_id=account_id, amount_micros=amount_micros, kind=kind)
    try:
        with transaction.atomic():
            return _post(
                account_id,
                amount_micros=amount_micros,
                kind=kind,
                idempotency_key=idempotency_key,
                **kw,
            )
    except IntegrityError:
        # A concurrent call with the same key won the race; answer with its entry.
        earlier = _existing(idempotency_key)
        if earlier is None:
            raise
        return _check_replay(earlier, account_id=account_id, amount_micros=amount_micros, kind=kind)


def grant(
    account: CreditAccount,
    *,
    amount_micros: int,
    idempotency_key: str,
    kind: str = Kind.GRANT,
    reference: str = "",
    memo: str = "",
) -> LedgerEntry:
    """Add credits (a grant, purchase, subscription period or refund), exactly once per key."""
    if kind not in CREDIT_KINDS:
        raise ValueError(f"grant() cannot write a {kind!r} entry")
    if type(amount_micros) is not int or amount_micros <= 0:
        raise ValueError("amount_micros must be a positive integer")
    return _post_once(
        account.pk,
        amount_micros=amount_micros,
        kind=kind,
        idempotency_key=idempotency_key,
        reference=reference,
        memo=memo,
    )


def adjust(
    account: CreditAccount,
    *,
    amount_micros: int,
    reason: str,
    idempotency_key: str,
    staff: User | None,
) -> LedgerEntry:
    """A staff correction, either sign, with a required reason. Never below zero."""
    if type(amount_micros) is not int or amount_micros == 0:
        raise ValueError("amount_micros must be a non-zero integer")
    if not reason.strip():
        raise ValueError("An adjustment needs a reason")
    return _post_once(
        account.pk,
        amount_micros=amount_micros,
        kind=Kind.ADJUSTMENT,
        idempotency_key=idempotency_key,
        memo=reason.strip(),
        created_by=staff,
    )


def debit(
    account: CreditAccount,
    *,
    amount_micros: int,
    idempotency_key: str,
    kind: str = Kind.EXPIRY,
    reference: str = "",
    memo: str = "",
) -> LedgerEntry:
    """Take credits away outside of a request (expiry of lapsed credits, a Stripe refund)."""
    if kind not in {Kind.EXPIRY, Kind.ADJUSTMENT}:
        raise ValueError(f"debit() cannot write a {kind!r} entry")
    if type(amount_micros) is not int or amount_micros <= 0:
        raise ValueError("amount_micros must be a positive integer")
    return _post_once(
        account.pk,
        amount_micros=-amount_micros,
        kind=kind,
        idempotency_key=idempotency_key,
        reference=reference,
        memo=memo,
    )


def reserve(
    account: CreditAccount,
    *,
    amount_micros: int,
    request_id: str,
    api_key_id: int | None = None,
    model_slug: str = "",
    ttl_s: int | None = None,
    wholesale: tuple[int, int] | None = None,
) -> Hold:
    """Set aside `amount_micros` for one request, or raise InsufficientCredits/SpendCapReached.

    One conditional debit of the balance (and of the key's spend cap, if any) and a hold row,
    in one transaction. Calling it again with the same request id returns the same hold.

    `wholesale` = (reseller's account id, micro-credits): a white-label request also holds
    the operator's price on the reseller's account, in the same transaction (both or
    neither); WholesaleExhausted when that account cannot cover it. The customer's account
    is debited first, the reseller's last, so concurrent requests lock rows in one order.
    """
    if type(amount_micros) is not int or amount_micros <= 0:
        raise ValueError("amount_micros must be a positive integer")
    # No look-up first: request ids are new on the hot path, and a replay is caught by the
    # unique constraint below.
    now = timezone.now()
    expires_at = now + timedelta(seconds=ttl_s or settings.HOLD_TTL_S)
    args = (request_id, api_key_id, model_slug, now, expires_at)
    if wholesale is None:
        hold = _reserve_one(account.pk, amount_micros, *args)
        hold._wholesale = None  # known: settle and release need not look
        return hold
    reseller_account_id, wholesale_micros = wholesale
    if type(wholesale_micros) is not int or wholesale_micros <= 0:
        raise ValueError("the wholesale amount must be a positive integer")
    with transaction.atomic():
        hold = _reserve_one(account.pk, amount_micros, *args)
        try:
            hold._wholesale = _reserve_one(
                reseller_account_id, wholesale_micros, f"{request_id}:wholesale", None,
                model_slug, now, expires_at, backs_id=hold.pk,
            )  # fmt: skip
        except InsufficientCredits:
            raise WholesaleExhausted(reseller_account_id, needed_micros=wholesale_micros) from None
    return hold


def _reserve_one(
    account_id: int, amount_micros: int, request_id: str, api_key_id: int | None,
    model_slug: str, now: datetime, expires_at: datetime, backs_id: int | None = None,
) -> Hold:  # fmt: skip
    if connection.vendor == "postgresql":
        return _reserve_pg(account_id, amount_micros, request_id, api_key_id, model_slug, now,
                           expires_at, backs_id)  # fmt: skip
    try:
        with transaction.atomic():
            hold = Hold.objects.create(
                account_id=account_id,
                request_id=request_id,
                amount_micros=amount_micros,
                api_key_id=api_key_id,
                model_slug=model_slug,
                created_at=now,
                expires_at=expires_at,
                backs_id=backs_id,
            )
            _post(
                account_id,
                amount_micros=-amount_micros,
                kind=Kind.HOLD,
                idempotency_key=f"hold:{request_id}",
                reference=request_id,
                memo=model_slug,
                hold=hold,
            )
            if api_key_id is not None:
                under_cap = Q(spend_cap_micros__isnull=True) | Q(
                    spent_micros__lte=F("spend_cap_micros") - amount_micros
                )
                moved = (
                    ApiKey.objects.filter(pk=api_key_id)
                    .filter(under_cap)
                    .update(spent_micros=F("spent_micros") + amount_micros)
                )
                if moved != 1:
                    raise SpendCapReached(api_key_id)
            return hold
    except IntegrityError:
        earlier = Hold.objects.filter(request_id=request_id).first()
        if earlier is None:
            raise
        return earlier


def _reserve_pg(
    account_id: int,
    amount_micros: int,
    request_id: str,
    api_key_id: int | None,
    model_slug: str,
    now: datetime,
    expires_at: datetime,
    backs_id: int | None,
) -> Hold:
    """`reserve` as one PostgreSQL statement (billing/pg.py); same outcomes as the ORM path."""
    args = {
        "account_id": account_id,
        "amount_micros": amount_micros,
        "request_id": request_id,
        "api_key_id": api_key_id,
        "model_slug": model_slug,
        "now": now,
        "expires_at": expires_at,
        "backs_id": backs_id,
    }
    for attempt in range(3):
        try:
            # Inside a caller's transaction, a savepoint keeps a duplicate id from spoiling
            # it; on its own, the statement is atomic and needs no BEGIN/COMMIT round trips.
            if connection.in_atomic_block:
                with transaction.atomic():
                    hold_id, spent = pg.reserve(**args)
            else:
                hold_id, spent = pg.reserve(**args)
        except IntegrityError:
            earlier = Hold.objects.filter(request_id=request_id).first()
            if earlier is None:
                raise
            return earlier
        if hold_id is not None:
            break
        # Refused: say why from the latest state. If neither reason holds any more, the
        # refusal came from a snapshot a concurrent request has since changed: try again.
        if api_key_id is not None and not _key_has_room(api_key_id, amount_micros):
            raise SpendCapReached(api_key_id)
        balance = CreditAccount.objects.values_list("balance_micros", flat=True).get(pk=account_id)
        if balance < amount_micros or attempt == 2:
            raise InsufficientCredits(account_id, needed_micros=amount_micros)
    hold = Hold(
        pk=hold_id,
        account_id=account_id,
        request_id=request_id,
        amount_micros=amount_micros,
        api_key_id=api_key_id,
        model_slug=model_slug,
        created_at=now,
        expires_at=expires_at,
        backs_id=backs_id,
    )
    if api_key_id is not None and not spent:
        # A concurrent request on the same key filled its cap between our check and our
        # update: give the hold back (through the ledger) and refuse, as the ORM path does.
        # The key's counter never moved, so the release must not move it back.
        _release(hold, return_to_key=False)
        raise SpendCapReached(api_key_id)
    return hold


def _key_has_room(api_key_id: int, amount_micros: int) -> bool:
    key = ApiKey.objects.filter(pk=api_key_id).values("spend_cap_micros", "spent_micros").first()
    if key is None or key["spend_cap_micros"] is None:
        return True
    return key["spent_micros"] + amount_micros <= key["spend_cap_micros"]


def _return_to_key(hold: Hold, amount_micros: int) -> None:
    if hold.api_key_id is not None and amount_micros > 0:
        ApiKey.objects.filter(pk=hold.api_key_id).update(
            spent_micros=F("spent_micros") - amount_micros
        )


def wholesale_of(hold: Hold) -> Hold | None:
    """The wholesale hold backing a white-label customer's hold, if any (known without a
    query for holds `reserve` returned)."""
    if hold.backs_id is not None:
        raise LedgerError("A wholesale hold moves only with the customer's hold it backs.")
    try:
        return hold.__dict__["_wholesale"]
    except KeyError:
        return Hold.objects.filter(backs_id=hold.pk).first()


def settle(
    hold: Hold,
    *,
    charged_micros: int,
    also: Sequence[tuple[str, dict[str, object]]] = (),
    wholesale_micros: int | None = None,
) -> Hold:
    """Charge `charged_micros` (at most the hold) and return the rest of the hold.

    Settling twice with the same amount is a no-op; a different amount, or settling a
    released hold, raises HoldNotOpen. Charging more than the hold raises ChargeExceedsHold.
    `also` are extra writes (INSERT … SELECT with named parameters and a `{guard}` where
    its WHERE clause goes, e.g. the request's usage row), made only if this call settles the
    hold and atomically with it: in the same statement on PostgreSQL, the same transaction
    elsewhere.

    A white-label hold settles its wholesale hold in the same transaction, at
    `wholesale_micros` (the usage at the operator's price); a customer charged the whole
    hold (a delivered video job) may leave it out: the wholesale hold is then charged whole.
    """
    wholesale = wholesale_of(hold)
    if wholesale is None:
        return _settle_one(hold, charged_micros, also)
    if wholesale_micros is None:
        if charged_micros != hold.amount_micros:
            raise ValueError("A white-label hold needs wholesale_micros to settle.")
        wholesale_micros = wholesale.amount_micros
    with transaction.atomic():
        settled = _settle_one(hold, charged_micros, also)
        _settle_one(wholesale, wholesale_micros, ())
    return settled


def _settle_one(
    hold: Hold, charged_micros: int, also: Sequence[tuple[str, dict[str, object]]]
) -> Hold:
    if type(charged_micros) is not int or charged_micros < 0:
        raise ValueError("charged_micros must be a non-negative integer")
    if charged_micros > hold.amount_micros:
        raise ChargeExceedsHold(
            f"Cannot charge {charged_micros} micro-credits against a hold of {hold.amount_micros}."
        )
    now = timezone.now()
    if connection.vendor == "postgresql":
        settled = pg.settle(hold=hold, charged_micros=charged_micros, now=now, also=also)
        claimed = 1 if settled else 0
    else:
        # No savepoint: the claim either moves the hold or changes nothing, so a refusal is
        # raised after the block and never spoils a caller's transaction.
        with transaction.atomic(savepoint=False):
            claimed = Hold.objects.filter(pk=hold.pk, state=Hold.State.OPEN).update(
                state=Hold.State.SETTLED, charged_micros=charged_micros, closed_at=now
            )
            if claimed == 1:
                _settle_claimed(hold, charged_micros)
                with connection.cursor() as cursor:
                    for sql, params in also:
                        cursor.execute(sql.replace("{guard}", "WHERE 1 = 1"), params)
    if claimed != 1:
        current = Hold.objects.get(pk=hold.pk)
        if current.state == Hold.State.SETTLED and current.charged_micros == charged_micros:
            return current
        raise HoldNotOpen(f"Hold {hold.request_id} is already {current.state}.")
    hold.state, hold.charged_micros, hold.closed_at = Hold.State.SETTLED, charged_micros, now
    return hold


def _settle_claimed(hold: Hold, charged_micros: int) -> None:
    returned = hold.amount_micros - charged_micros
    _post(
        hold.account_id,
        amount_micros=returned,
        kind=Kind.SETTLE,
        idempotency_key=f"settle:{hold.request_id}",
        reference=hold.request_id,
        memo=f"charged {charged_micros}",
        hold=hold,
    )
    _return_to_key(hold, returned)


def release(hold: Hold) -> Hold:
    """Return the whole hold (the request failed), and a white-label hold's wholesale hold
    with it, in one transaction. Idempotent; a settled hold stays settled."""
    wholesale = wholesale_of(hold)
    if wholesale is None:
        return _release(hold, return_to_key=True)
    with transaction.atomic():
        released = _release(hold, return_to_key=True)
        _release(wholesale, return_to_key=False)
    return released


def _release(hold: Hold, *, return_to_key: bool) -> Hold:
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        claimed = Hold.objects.filter(pk=hold.pk, state=Hold.State.OPEN).update(
            state=Hold.State.RELEASED, closed_at=now
        )
        if claimed == 1:
            _post(
                hold.account_id,
                amount_micros=hold.amount_micros,
                kind=Kind.RELEASE,
                idempotency_key=f"release:{hold.request_id}",
                reference=hold.request_id,
                hold=hold,
            )
            if return_to_key:
                _return_to_key(hold, hold.amount_micros)
    if claimed != 1:
        current = Hold.objects.get(pk=hold.pk)
        if current.state == Hold.State.RELEASED:
            return current
        raise HoldNotOpen(f"Hold {hold.request_id} is already {current.state}.")
    hold.state, hold.closed_at = Hold.State.RELEASED, now
    return hold


def release_expired(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Release every open hold past its expiry: the request that took it never finished
    (its process crashed or hung). The customer gets the whole hold back, since we cannot
    know what was delivered. Safe to run anywhere, any number of times, concurrently: each
    hold is claimed by a conditional update. Returns how many holds this call released."""
    now = now or timezone.now()
    released = 0
    # A wholesale hold is released with the customer's hold it backs.
    expired = Hold.objects.filter(
        state=Hold.State.OPEN, expires_at__lt=now, backs__isnull=True
    ).order_by("id")
    for hold in expired[:limit]:
        try:
            release(hold)
        except HoldNotOpen:
            continue  # settled or released meanwhile
        released += 1
    if released:
        logger.warning("released expired holds", extra={"count": released})
    return released


def entries_total(account: CreditAccount) -> int:
    """The sum of the account's entries; equals its balance unless something is badly wrong."""
    return account.entries.aggregate(total=Sum("amount_micros"))["total"] or 0
