from __future__ import annotations

import pytest

from accounts import keys
from billing import ledger
from billing.models import CreditAccount, Hold, LedgerEntry
from tests.conftest import CREDIT, funded

pytestmark = pytest.mark.django_db


def assert_books_balance(account: CreditAccount) -> None:
    account.refresh_from_db()
    assert ledger.entries_total(account) == account.balance_micros
    assert account.balance_micros >= 0


def test_new_users_start_with_an_empty_account(alice):
    account = ledger.account_for(alice)
    assert account.balance_micros == 0
    assert account.entries.count() == 0


def test_grant_adds_credits_once_per_key(alice):
    account = ledger.account_for(alice)
    first = ledger.grant(account, amount_micros=5 * CREDIT, idempotency_key="stripe:cs_1")
    again = ledger.grant(account, amount_micros=5 * CREDIT, idempotency_key="stripe:cs_1")
    assert again.pk == first.pk
    account.refresh_from_db()
    assert account.balance_micros == 5 * CREDIT
    assert first.balance_after_micros == 5 * CREDIT
    assert_books_balance(account)


def test_a_key_reused_for_a_different_amount_is_refused(alice):
    account = ledger.account_for(alice)
    ledger.grant(account, amount_micros=5 * CREDIT, idempotency_key="stripe:cs_2")
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.grant(account, amount_micros=6 * CREDIT, idempotency_key="stripe:cs_2")
    account.refresh_from_db()
    assert account.balance_micros == 5 * CREDIT


@pytest.mark.parametrize("amount", [0, -1, 1.5])
def test_grant_refuses_amounts_that_are_not_positive_integers(alice, amount):
    with pytest.raises(ValueError):
        ledger.grant(ledger.account_for(alice), amount_micros=amount, idempotency_key="g")
    assert LedgerEntry.objects.count() == 0


def test_reserve_then_settle_charges_exactly_the_actual_cost(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=3 * CREDIT, request_id="req_1")
    account.refresh_from_db()
    assert account.balance_micros == 7 * CREDIT
    settled = ledger.settle(hold, charged_micros=1_234_567)
    assert settled.state == Hold.State.SETTLED
    assert settled.charged_micros == 1_234_567
    account.refresh_from_db()
    assert account.balance_micros == 10 * CREDIT - 1_234_567
    assert_books_balance(account)


def test_reserve_refuses_when_the_balance_is_short_and_changes_nothing(alice):
    account = funded(alice, 2)
    with pytest.raises(ledger.InsufficientCredits):
        ledger.reserve(account, amount_micros=2 * CREDIT + 1, request_id="req_big")
    account.refresh_from_db()
    assert account.balance_micros == 2 * CREDIT
    assert not Hold.objects.filter(request_id="req_big").exists()
    assert_books_balance(account)


def test_reserving_the_same_request_twice_holds_once(alice):
    account = funded(alice, 10)
    first = ledger.reserve(account, amount_micros=CREDIT, request_id="req_dup")
    second = ledger.reserve(account, amount_micros=CREDIT, request_id="req_dup")
    assert first.pk == second.pk
    account.refresh_from_db()
    assert account.balance_micros == 9 * CREDIT


def test_replaying_settle_changes_nothing(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=2 * CREDIT, request_id="req_s")
    ledger.settle(hold, charged_micros=CREDIT)
    entries = LedgerEntry.objects.count()
    ledger.settle(hold, charged_micros=CREDIT)
    assert LedgerEntry.objects.count() == entries
    account.refresh_from_db()
    assert account.balance_micros == 9 * CREDIT
    assert_books_balance(account)


def test_settling_again_with_another_amount_is_refused(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=2 * CREDIT, request_id="req_s2")
    ledger.settle(hold, charged_micros=CREDIT)
    with pytest.raises(ledger.HoldNotOpen):
        ledger.settle(hold, charged_micros=CREDIT // 2)
    account.refresh_from_db()
    assert account.balance_micros == 9 * CREDIT


def test_settling_above_the_hold_is_refused(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=CREDIT, request_id="req_over")
    with pytest.raises(ledger.ChargeExceedsHold):
        ledger.settle(hold, charged_micros=CREDIT + 1)
    hold.refresh_from_db()
    assert hold.state == Hold.State.OPEN
    account.refresh_from_db()
    assert account.balance_micros == 9 * CREDIT


def test_release_returns_the_whole_hold_and_replays_are_harmless(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=4 * CREDIT, request_id="req_r")
    ledger.release(hold)
    ledger.release(hold)
    account.refresh_from_db()
    assert account.balance_micros == 10 * CREDIT
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RELEASE).count() == 1
    assert_books_balance(account)


def test_a_released_hold_cannot_be_settled(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=CREDIT, request_id="req_rs")
    ledger.release(hold)
    with pytest.raises(ledger.HoldNotOpen):
        ledger.settle(hold, charged_micros=1)
    account.refresh_from_db()
    assert account.balance_micros == 10 * CREDIT


def test_a_settled_hold_cannot_be_released(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=CREDIT, request_id="req_sr")
    ledger.settle(hold, charged_micros=CREDIT)
    with pytest.raises(ledger.HoldNotOpen):
        ledger.release(hold)
    account.refresh_from_db()
    assert account.balance_micros == 9 * CREDIT


def test_a_key_spend_cap_limits_reservations_and_frees_up_on_settle(alice):
    account = funded(alice, 100)
    key, _ = keys.create(alice, name="capped", spend_cap_micros=5 * CREDIT)
    hold = ledger.reserve(account, amount_micros=4 * CREDIT, request_id="c1", api_key_id=key.pk)
    with pytest.raises(ledger.SpendCapReached):
        ledger.reserve(account, amount_micros=2 * CREDIT, request_id="c2", api_key_id=key.pk)
    account.refresh_from_db()
    assert account.balance_micros == 96 * CREDIT  # the refused hold changed nothing
    ledger.settle(hold, charged_micros=CREDIT)
    key.refresh_from_db()
    assert key.spent_micros == CREDIT
    ledger.reserve(account, amount_micros=4 * CREDIT, request_id="c3", api_key_id=key.pk)
    key.refresh_from_db()
    assert key.spent_micros == 5 * CREDIT
    assert_books_balance(account)


def test_adjustments_need_a_reason_and_never_overdraw(alice, staff):
    account = funded(alice, 3)
    with pytest.raises(ValueError):
        ledger.adjust(account, amount_micros=CREDIT, reason=" ", idempotency_key="a0", staff=staff)
    with pytest.raises(ledger.InsufficientCredits):
        ledger.adjust(
            account, amount_micros=-4 * CREDIT, reason="chargeback", idempotency_key="a1",
            staff=staff,
        )  # fmt: skip
    entry = ledger.adjust(
        account, amount_micros=-CREDIT, reason="goodwill reversal", idempotency_key="a2",
        staff=staff,
    )  # fmt: skip
    assert entry.created_by == staff
    assert entry.memo == "goodwill reversal"
    account.refresh_from_db()
    assert account.balance_micros == 2 * CREDIT
    assert_books_balance(account)


def test_every_entry_records_the_balance_after_it(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=3 * CREDIT, request_id="b1")
    ledger.settle(hold, charged_micros=2 * CREDIT)
    running = 0
    for entry in LedgerEntry.objects.filter(account=account).order_by("id"):
        running += entry.amount_micros
        assert entry.balance_after_micros == running
