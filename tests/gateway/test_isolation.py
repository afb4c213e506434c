"""Tenant isolation: user B walks every URL that names an object, and every page that lists
an account's data, with user A's objects: 404 or 403 everywhere, nothing of A's shown, and
A's objects unchanged. A new URL with a parameter fails this test until it is added here."""

from __future__ import annotations

import requests
from django.test import Client
from django.urls import get_resolver, reverse
from django.urls.resolvers import URLResolver
from django.utils import timezone

from accounts import keys
from accounts.models import ApiKey, User
from billing import ledger
from gateway import assets, views
from gateway.models import Asset, UsageRecord, VideoJob
from tests.conftest import CREDIT

# Every parameterized page URL, and why B cannot reach A's object through it.
REVIEWED = {
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": "allauth: a secret emailed to A",
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "allauth: secret",
    "settings/keys/<int:key_id>/rotate/": "walked below",
    "settings/keys/<int:key_id>/revoke/": "walked below",
    "settings/billing/buy/pack/<slug:slug>/": "public offers, bought for the caller",
    "settings/billing/buy/plan/<slug:slug>/": "public offers, bought for the caller",
    "settings/billing/change/<slug:slug>/": "acts on the caller's own subscription",
    "models/<str:slug>/": "public catalog",
    "legal/<slug:slug>/": "public pages",
    "posts/<slug:slug>/": "public posts",
    "stripe/webhook/<uuid:uuid>/": "Stripe's, signature-checked",
    "stripe/brand/<slug:slug>/webhook/": "a brand's Stripe, signature-checked with its secret",
    "settings/billing/buy/brand-pack/<int:pack_id>/": "only the caller's own brand's packs",
    "files/<uuid:asset_id>": "walked below",
}
V1_WITH_IDS = {"/v1/videos/{video_id}", "/v1/videos/{video_id}/content"}


def _patterns(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            # Staff only, and the reseller console (tests/brands/test_reseller.py): tested apart.
            if not str(pattern.pattern).startswith(("admin/", "reseller/")):
                yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def test_every_url_with_a_parameter_is_reviewed_for_isolation():
    found = {p for p in _patterns(get_resolver().url_patterns) if "<" in p or "(?P" in p}
    assert found == set(REVIEWED), "review the new URL for tenant isolation, then list it"
    assert {p for p in views.ROUTES if "{" in p} == V1_WITH_IDS


def test_user_b_reaches_nothing_of_user_a(gateway):
    alice = gateway.user
    bob = User.objects.create_user("bob@example.com", "bob-password-1")
    ledger.grant(ledger.account_for(bob), amount_micros=3 * CREDIT, idempotency_key="fund-bob")
    _, bob_raw = keys.create(bob, name="bob")
    alice_key = ApiKey.objects.get(owner=alice, name="test")
    picture = assets.store(user_id=alice.pk, request_id="req_alice_img", data=b"\x89PNG\r\n\x1a\n",
                           kind=Asset.Kind.IMAGE, content_type="image/png")  # fmt: skip
    job = VideoJob.objects.create(
        id="video_alice", user=alice, api_key=alice_key, request_id="req_alice_video",
        model_slug="sim-video", provider_slug="sim", route_id=0, upstream_id="up",
        status="completed", progress=100, seconds=4, size="1280x720", held_micros=0,
        created_at=timezone.now(), deadline_at=timezone.now(), next_poll_at=timezone.now(),
        asset=assets.store(user_id=alice.pk, request_id="req_alice_video", data=b"\x00" * 64,
                           kind=Asset.Kind.VIDEO, content_type="video/mp4"),
    )  # fmt: skip
    UsageRecord.objects.create(request_id="req_alice_usage", user=alice, api_key=alice_key,
                               endpoint="chat.completions", model_slug="sim-chat",
                               status="ok", http_status=200, charged_micros=CREDIT)  # fmt: skip
    alice_secrets = [alice_key.prefix, "req_alice_usage", "video_alice", alice.email,
                     str(picture.pk)]  # fmt: skip

    browser = Client()
    browser.force_login(bob)
    for action in ("accounts:key-rotate", "accounts:key-revoke"):
        assert browser.post(reverse(action, args=[alice_key.pk])).status_code == 404
    alice_key.refresh_from_db()
    assert alice_key.revoked_at is None and keys.authenticate(gateway.raw_key)
    assert browser.get(f"/files/{picture.pk}").status_code == 403  # no signature
    signed_for_other = assets.signed_path(job.asset).split("?", 1)[1]
    assert browser.get(f"/files/{picture.pk}?{signed_for_other}").status_code == 403
    for page in ("/settings/keys/", "/settings/billing/", "/settings/usage/",
                 "/settings/usage.csv", "/playground/", "/"):  # fmt: skip
        answer = browser.get(page)
        body = b"".join(answer.streaming_content) if answer.streaming else answer.content
        for secret in alice_secrets:
            assert secret not in body.decode(), (page, secret)

    headers = {"authorization": f"Bearer {bob_raw}"}
    for method, path in (("GET", "/v1/videos/video_alice"), ("DELETE", "/v1/videos/video_alice"),
                         ("GET", "/v1/videos/video_alice/content")):  # fmt: skip
        answer = requests.request(method, gateway.url + path, headers=headers, timeout=5,
                                  allow_redirects=False)  # fmt: skip
        assert answer.status_code == 404, (method, path)
        assert "alice" not in answer.text.lower().replace("video_alice", "")
    listing = requests.get(gateway.url + "/v1/videos", headers=headers, timeout=5).json()
    assert listing["data"] == []
    credits = requests.get(gateway.url + "/v1/credits", headers=headers, timeout=5).json()
    assert credits["balance_micros"] == 3 * CREDIT
    job.refresh_from_db()
    assert job.status == "completed" and job.asset.deleted_at is None
    gateway.assert_books_closed()
