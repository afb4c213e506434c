"""Versioned prices with notice: a change for existing customers starts at least 14 days
ahead (staff may override with a reason), a price in force is history, active customers are
emailed once about an announced change, and the model list shows it with its date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog import announcements, selectors
from catalog.models import Model, Price
from tests.conftest import CREDIT


@pytest.fixture
def priced(db) -> Model:
    model = Model.objects.create(slug="m1", display_name="M1", kind="chat", owned_by="x")
    Price.objects.create(
        model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        input_micros_per_mtok=1_000_000, output_micros_per_mtok=2_000_000,
    )  # fmt: skip
    selectors.invalidate()
    return model


def change(model: Model, days: float, **fields) -> Price:
    return Price(
        model=model, effective_from=timezone.now() + timedelta(days=days),
        input_micros_per_mtok=3_000_000, output_micros_per_mtok=4_000_000, **fields,
    )  # fmt: skip


def test_a_change_needs_14_days_notice_unless_staff_give_a_reason(priced):
    with pytest.raises(ValidationError, match="14 days' notice"):
        change(priced, 3).full_clean()
    change(priced, 14.01).full_clean()
    change(priced, 1, notice_override_reason="Provider cut its price; ours follows").full_clean()


def test_a_new_models_first_price_and_unchanged_rows_need_no_notice(db, priced):
    fresh = Model.objects.create(slug="m2", display_name="M2", kind="chat", owned_by="x")
    change(fresh, 0).full_clean()
    in_force = priced.prices.get()
    in_force.note = "just a note"
    in_force.full_clean()  # not a priced field: fine
    in_force.input_micros_per_mtok = 1
    with pytest.raises(ValidationError, match="billing history"):
        in_force.full_clean()


def test_admin_refuses_a_short_notice_change_and_says_why(priced, staff):
    admin = Client()
    admin.force_login(staff)
    soon = timezone.now() + timedelta(days=2)
    answer = admin.post(reverse("admin:catalog_price_add"), {
        "model": priced.pk, "effective_from_0": soon.strftime("%Y-%m-%d"),
        "effective_from_1": soon.strftime("%H:%M:%S"), "input_micros_per_mtok": 5,
        "cached_input_micros_per_mtok": 0, "output_micros_per_mtok": 5, "per_request_micros": 0,
        "image_micros": "{}", "video_micros_per_second": "{}",
    })  # fmt: skip
    assert answer.status_code == 200 and "days&#x27; notice" in answer.content.decode()
    assert priced.prices.count() == 1


def test_active_customers_are_emailed_once_and_the_model_list_shows_the_change(
    priced, alice, bob, gateway_client
):
    from billing import ledger

    ledger.grant(ledger.account_for(alice), amount_micros=5 * CREDIT, idempotency_key="a1")
    upcoming = change(priced, 20)
    upcoming.full_clean()
    upcoming.save()
    assert announcements.announce_price_changes() == 1  # alice has credits; bob is inactive
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "M1 (m1)" in mail.outbox[0].body and "3 credits per million input" in mail.outbox[0].body
    assert announcements.announce_price_changes() == 0  # once
    models = gateway_client(alice)
    entry = next(m for m in models["data"] if m["id"] == "m1")
    assert entry["pricing"]["input_micros_per_mtok"] == 1_000_000
    assert [p["input_micros_per_mtok"] for p in entry["upcoming_pricing"]] == [3_000_000]
    assert entry["upcoming_pricing"][0]["effective_from"] == upcoming.effective_from.isoformat()


@pytest.fixture
def gateway_client():
    """/v1/models through the selectors the endpoint uses, for a key of this user."""
    from accounts import keys
    from gateway import selectors as gateway_selectors

    def models(user):
        _, raw = keys.create(user, name="t")
        return gateway_selectors.models_for(keys.authenticate(raw))

    return models
