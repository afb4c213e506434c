"""Termination: unused subscription credits lapse through an expiry entry (spending draws
on them first); pack credits stay; the Stripe subscription is cancelled at once."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import keys
from billing import ledger
from billing.models import LedgerEntry
from billing.termination import terminate, unused_subscription_credits
from tests.billing.conftest import spend
from tests.conftest import CREDIT


@pytest.mark.parametrize(
    "spent,lapses",
    [(0, 10_000), (3_000, 7_000), (10_000, 0), (12_000, 0)],
)
def test_spending_draws_on_subscription_credits_first(alice, spent, lapses):
    account = ledger.account_for(alice)
    ledger.grant(account, amount_micros=10_000 * CREDIT, idempotency_key="sub-1",
                 kind=LedgerEntry.Kind.SUBSCRIPTION)  # fmt: skip
    ledger.grant(account, amount_micros=5_000 * CREDIT, idempotency_key="pack-1",
                 kind=LedgerEntry.Kind.PURCHASE)  # fmt: skip
    if spent:
        spend(account, spent * CREDIT, "req-1")
    account.refresh_from_db()
    assert unused_subscription_credits(account) == lapses * CREDIT
    _, raw = keys.create(alice, name="app")
    assert terminate(alice) == lapses * CREDIT
    account.refresh_from_db()
    assert account.balance_micros == (15_000 - spent - lapses) * CREDIT  # pack credits stay
    assert ledger.entries_total(account) == account.balance_micros
    alice.refresh_from_db()
    assert alice.closed_at is not None and not alice.is_active
    with pytest.raises(keys.KeyRevoked):
        keys.authenticate(raw)
    assert terminate(alice) == 0  # twice: nothing more lapses


def test_closing_from_the_profile_cancels_the_plan_and_lapses_its_credits(world):
    started = world.subscribe("starter")
    answer = world.browser.post(
        reverse("accounts:profile"), {"password": "alice-password-1", "confirm": "on"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert world.standin.get(started["subscription"])["status"] == "canceled"
    expiry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.EXPIRY)
    assert expiry.amount_micros == -10_000 * CREDIT
    assert world.balance() == 0
    world.assert_books_closed()


def test_closing_is_refused_and_changes_nothing_when_stripe_cannot_cancel(world):
    import stripe

    from simulator.testing import closed_port

    world.subscribe("starter")
    before = world.balance()
    stripe.api_base = f"http://127.0.0.1:{closed_port()}"
    answer = world.browser.post(
        reverse("accounts:profile"), {"password": "alice-password-1", "confirm": "on"},
        follow=True,
    )  # fmt: skip
    assert "could not be cancelled" in answer.content.decode()
    world.user.refresh_from_db()
    assert world.user.closed_at is None and world.balance() == before
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRY).exists()


def test_staff_terminate_an_account_from_admin(alice, staff):
    from django.test import Client

    account = ledger.account_for(alice)
    ledger.grant(account, amount_micros=2 * CREDIT, idempotency_key="sub-2",
                 kind=LedgerEntry.Kind.SUBSCRIPTION)  # fmt: skip
    admin = Client()
    admin.force_login(staff)
    answer = admin.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "terminate", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert "1 account(s) terminated" in answer.content.decode()
    alice.refresh_from_db()
    account.refresh_from_db()
    assert alice.closed_at is not None and account.balance_micros == 0
