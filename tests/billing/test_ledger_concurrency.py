"""Money under concurrency, on a real database (PostgreSQL in CI)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from billing import ledger
from billing.models import CreditAccount, Hold
from tests.conftest import CREDIT, funded


def run_in_threads(count: int, target) -> list[object]:
    results: list[object] = [None] * count
    barrier = threading.Barrier(count)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 (collected and asserted on by the test)
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_reservations_never_overdraw_twenty_credits(alice):
    account = funded(alice, 20)

    def reserve_one(i: int) -> Hold:
        return ledger.reserve(account, amount_micros=CREDIT, request_id=f"race-{i}")

    results = run_in_threads(50, reserve_one)
    won = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, ledger.InsufficientCredits)]
    assert len(won) == 20, [r for r in results if not isinstance(r, Hold)][:3]
    assert len(refused) == 30
    account.refresh_from_db()
    assert account.balance_micros == 0
    assert ledger.entries_total(account) == account.balance_micros


@pytest.mark.django_db(transaction=True)
def test_concurrent_settles_of_one_hold_charge_once(alice):
    account = funded(alice, 10)
    hold = ledger.reserve(account, amount_micros=5 * CREDIT, request_id="race-settle")
    results = run_in_threads(8, lambda i: ledger.settle(hold, charged_micros=2 * CREDIT))
    assert all(isinstance(r, Hold) for r in results), results
    account.refresh_from_db()
    assert account.balance_micros == 8 * CREDIT
    assert ledger.entries_total(account) == account.balance_micros


@pytest.mark.django_db(transaction=True)
def test_the_same_grant_replayed_concurrently_lands_once(alice):
    account = CreditAccount.objects.get(user=alice)
    results = run_in_threads(
        8,
        lambda i: ledger.grant(account, amount_micros=7 * CREDIT, idempotency_key="in_evt_1"),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    account.refresh_from_db()
    assert account.balance_micros == 7 * CREDIT
    assert ledger.entries_total(account) == account.balance_micros


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_on_a_capped_key_stop_exactly_at_the_cap(alice):
    from accounts import keys

    account = funded(alice, 100)
    key, _ = keys.create(alice, name="capped", spend_cap_micros=5 * CREDIT)

    def reserve_one(i: int) -> Hold:
        return ledger.reserve(
            account, amount_micros=CREDIT, request_id=f"cap-{i}", api_key_id=key.pk
        )

    results = run_in_threads(20, reserve_one)
    won = [r for r in results if isinstance(r, Hold)]
    capped = [r for r in results if isinstance(r, ledger.SpendCapReached)]
    assert (len(won), len(capped)) == (5, 15), results
    key.refresh_from_db()
    assert key.spent_micros == 5 * CREDIT
    account.refresh_from_db()
    assert account.balance_micros == 95 * CREDIT
    assert ledger.entries_total(account) == account.balance_micros
    assert Hold.objects.filter(state=Hold.State.OPEN).count() == 5
