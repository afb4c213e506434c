"""Every form that changes something is protected by CSRF: a POST without the token is
refused with 403 and changes nothing (API endpoints under /v1 use keys, not cookies)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey

FORMS = [
    ("accounts:keys", {}, {"name": "stolen"}),
    ("accounts:profile", {}, {"password": "alice-password-1", "confirm": "on"}),
    ("accounts:webhook-secret", {}, {}),
    ("billing:alert", {}, {"threshold": "5"}),
    ("billing:cancel", {}, {}),
    ("billing:portal", {}, {}),
    (
        "content:contact",
        {},
        {"name": "x", "email": "x@example.com", "subject": "s", "message": "m"},
    ),  # fmt: skip
    ("gateway:playground-token", {}, {}),
    ("account_logout", {}, {}),
]


@pytest.mark.parametrize("name,kwargs,data", FORMS, ids=[f[0] for f in FORMS])
def test_a_post_without_the_csrf_token_is_refused(alice, name, kwargs, data):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    answer = browser.post(reverse(name, kwargs=kwargs), data)
    assert answer.status_code == 403
    alice.refresh_from_db()
    assert alice.is_active and alice.closed_at is None
    assert not ApiKey.objects.filter(owner=alice, name="stolen").exists()
