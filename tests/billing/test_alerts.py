"""Low-balance alerts: set in Settings → Billing, one email when the balance crosses the
threshold (not one per request), re-armed once the balance is back above it."""

from __future__ import annotations

from django.core import mail
from django.test import Client
from django.urls import reverse

from billing import alerts, ledger
from tests.billing.conftest import spend
from tests.conftest import CREDIT


def test_one_email_when_the_balance_crosses_the_threshold_then_rearmed(alice):
    browser = Client()
    browser.force_login(alice)
    answer = browser.post(reverse("billing:alert"), {"threshold": "1000"}, follow=True)
    assert "Low-balance alert saved" in answer.content.decode()
    account = ledger.account_for(alice)
    ledger.grant(account, amount_micros=1_500 * CREDIT, idempotency_key="g1")
    assert alerts.send_low_balance_alerts() == 0  # above: nothing
    spend(account, 600 * CREDIT, "r1")  # 900 left: crossed
    spend(account, 10 * CREDIT, "r2")
    assert alerts.send_low_balance_alerts() == 1
    spend(account, 10 * CREDIT, "r3")
    assert alerts.send_low_balance_alerts() == 0  # still below: no second email
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"] and "890 credits" in message.subject
    ledger.grant(account, amount_micros=500 * CREDIT, idempotency_key="g2")  # 1,380: back above
    assert alerts.send_low_balance_alerts() == 0
    spend(account, 400 * CREDIT, "r4")  # 980: crossed again
    assert alerts.send_low_balance_alerts() == 1 and len(mail.outbox) == 2


def test_the_alert_form_refuses_nonsense_and_can_be_turned_off(alice, bob):
    browser = Client()
    browser.force_login(alice)
    answer = browser.post(reverse("billing:alert"), {"threshold": "-5"})
    assert answer.status_code == 400 and "greater than or equal to 0" in answer.content.decode()
    alice.refresh_from_db()
    assert alice.low_balance_threshold_micros is None
    browser.post(reverse("billing:alert"), {"threshold": "50"})
    alice.refresh_from_db()
    assert alice.low_balance_threshold_micros == 50 * CREDIT
    bob.refresh_from_db()
    assert bob.low_balance_threshold_micros is None  # only the caller's own
    browser.post(reverse("billing:alert"), {"threshold": ""})
    alice.refresh_from_db()
    assert alice.low_balance_threshold_micros is None
    assert alerts.send_low_balance_alerts() == 0 and not mail.outbox
