"""Settings → API Keys and Profile, through the views. Alice must never see or touch Bob's."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts import keys
from accounts.models import ApiKey, User

pytestmark = pytest.mark.django_db


def test_the_keys_page_needs_a_login():
    response = Client().get(reverse("accounts:keys"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_alice_sees_her_keys_and_not_bobs(alice_client, alice, bob):
    keys.create(alice, name="alice-laptop")
    keys.create(bob, name="bob-server")
    page = alice_client.get(reverse("accounts:keys")).content.decode()
    assert "alice-laptop" in page
    assert "bob-server" not in page


def test_creating_a_key_shows_the_secret_once(alice_client, alice):
    response = alice_client.post(
        reverse("accounts:keys"),
        {"name": "notebook", "spend_cap_credits": "12.5", "allowed_models": "gpt-5.1, veo-3.1",
         "tpm_limit": "50000", "concurrency_limit": "4"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["new_secret"]
    assert secret in response.content.decode()
    key = ApiKey.objects.get(owner=alice)
    assert key.spend_cap_micros == 12_500_000
    assert key.allowed_models == ["gpt-5.1", "veo-3.1"]
    assert (key.tpm_limit, key.concurrency_limit) == (50_000, 4)
    assert keys.authenticate(secret).limits.key_concurrency == 4
    assert keys.authenticate(secret).id == key.pk
    # Shown once: the next visit does not contain it.
    assert secret not in alice_client.get(reverse("accounts:keys")).content.decode()


@pytest.mark.parametrize(
    "data,field",
    [
        ({"name": ""}, "name"),
        ({"name": "x", "spend_cap_credits": "lots"}, "spend_cap_credits"),
        ({"name": "x", "spend_cap_credits": "0.0000001"}, "spend_cap_credits"),
        ({"name": "x", "expires_in_days": "0"}, "expires_in_days"),
        ({"name": "x", "allowed_models": "gpt-5.1, <script>"}, "allowed_models"),
    ],
)
def test_bad_key_input_is_refused_and_creates_nothing(alice_client, data, field):
    response = alice_client.post(reverse("accounts:keys"), data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert ApiKey.objects.count() == 0


def test_alice_can_rotate_and_revoke_her_own_key(alice_client, alice):
    key, raw = keys.create(alice, name="k")
    response = alice_client.post(reverse("accounts:key-rotate", args=[key.pk]))
    assert response.status_code == 200
    new_raw = response.context["new_secret"]
    with pytest.raises(keys.KeyRevoked):
        keys.authenticate(raw)
    new_key = ApiKey.objects.get(owner=alice, revoked_at__isnull=True)
    response = alice_client.post(reverse("accounts:key-revoke", args=[new_key.pk]))
    assert response.status_code == 302
    with pytest.raises(keys.KeyRevoked):
        keys.authenticate(new_raw)


@pytest.mark.parametrize("action", ["accounts:key-rotate", "accounts:key-revoke"])
def test_alice_cannot_rotate_or_revoke_bobs_key(alice_client, bob, action):
    key, raw = keys.create(bob, name="bob-server")
    response = alice_client.post(reverse(action, args=[key.pk]))
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert keys.authenticate(raw).owner_id == bob.pk
    assert ApiKey.objects.filter(owner=bob).count() == 1


def test_key_actions_refuse_get(alice_client, alice):
    key, _ = keys.create(alice, name="k")
    assert alice_client.get(reverse("accounts:key-revoke", args=[key.pk])).status_code == 405


def test_closing_the_account_needs_the_password(alice_client, alice):
    key, raw = keys.create(alice, name="k")
    response = alice_client.post(
        reverse("accounts:profile"), {"password": "wrong", "confirm": "on"}
    )
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.is_active and alice.closed_at is None
    assert keys.authenticate(raw).id == key.pk


def test_closing_the_account_revokes_keys_deactivates_and_keeps_the_ledger(alice_client, alice):
    from billing import ledger
    from billing.models import LedgerEntry

    ledger.grant(ledger.account_for(alice), amount_micros=5, idempotency_key="g-close")
    key, raw = keys.create(alice, name="k")
    response = alice_client.post(
        reverse("accounts:profile"), {"password": "alice-password-1", "confirm": "on"}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active and alice.closed_at is not None
    with pytest.raises(keys.KeyRevoked):
        keys.authenticate(raw)
    assert LedgerEntry.objects.filter(account__user=alice).count() == 1
    # Logged out: the settings pages now ask for a login.
    assert alice_client.get(reverse("accounts:keys")).status_code == 302
    assert not Client().login(email="alice@example.com", password="alice-password-1")


def test_signup_with_email_and_login_after_verification(mailoutbox):
    client = Client()
    response = client.post(
        reverse("account_signup"),
        {
            "email": "Carol@Example.com",
            "password1": "a-long-pass-2026",
            "password2": "a-long-pass-2026",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact="carol@example.com")
    assert user.is_active
    assert len(mailoutbox) == 1 and "carol@example.com" in mailoutbox[0].to[0].lower()
