from __future__ import annotations

import pytest
from django.urls import reverse

from billing import ledger
from billing.models import LedgerEntry
from tests.conftest import CREDIT, funded

pytestmark = pytest.mark.django_db


def adjust_url(account) -> str:
    return reverse("admin:billing_creditaccount_adjust", args=[account.pk])


def test_staff_adjust_a_balance_through_a_ledger_entry_with_a_reason(staff_client, staff, alice):
    account = funded(alice, 10)
    form = staff_client.get(adjust_url(account)).context["form"]
    key = form.initial["idempotency_key"]
    data = {
        "amount_credits": "-2.5",
        "reason": "Refund of a duplicate charge",
        "idempotency_key": key,
    }
    assert staff_client.post(adjust_url(account), data).status_code == 302
    # A double submit of the same form applies once.
    assert staff_client.post(adjust_url(account), data).status_code == 302
    account.refresh_from_db()
    assert account.balance_micros == 7_500_000
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.ADJUSTMENT)
    assert entry.created_by == staff and entry.memo == "Refund of a duplicate charge"
    assert ledger.entries_total(account) == account.balance_micros


@pytest.mark.parametrize(
    "amount,reason",
    [("-11", "too much"), ("0", "zero"), ("abc", "nonsense"), ("1.0000001", "too fine"), ("5", "")],
)
def test_bad_adjustments_are_refused_and_change_nothing(staff_client, alice, amount, reason):
    account = funded(alice, 10)
    data = {"amount_credits": amount, "reason": reason, "idempotency_key": "adjust:x1"}
    response = staff_client.post(adjust_url(account), data)
    assert response.status_code == 200
    assert response.context["form"].errors
    account.refresh_from_db()
    assert account.balance_micros == 10 * CREDIT
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUSTMENT).exists()


def test_the_balance_cannot_be_edited_directly_in_admin(staff_client, alice):
    account = funded(alice, 10)
    url = reverse("admin:billing_creditaccount_change", args=[account.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert 'name="balance_micros"' not in page.content.decode()
    staff_client.post(url, {"balance_micros": "999999999999"})
    account.refresh_from_db()
    assert account.balance_micros == 10 * CREDIT


def test_ledger_entries_are_read_only_for_staff(staff_client, alice):
    funded(alice, 1)
    entry = LedgerEntry.objects.get()
    delete = reverse("admin:billing_ledgerentry_delete", args=[entry.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_customers_cannot_reach_the_adjustment_view(alice_client, bob):
    account = funded(bob, 1)
    response = alice_client.get(adjust_url(account))
    assert response.status_code == 302  # to the admin login
    assert "/admin/login/" in response["Location"]
